"""Incremental vs full refresh: does the cost follow the change, and what does it cost in quality?

    python -m bench.refresh                       # 10k users, 1% changed
    python -m bench.refresh --sizes 10000 50000 --changed 0.01 --epochs 20

Per size, through real worker processes (cpu + gpu queue) on the bench's own Neo4j/Redis:
bulk-load synthetic data, run a full refresh, ingest one new interaction for ``changed`` of the
users, run an incremental refresh, then a second full refresh on that same end state. Reports
wall time of each (submit to complete) and its steps, the incremental/full time ratio (target
<= 0.10 at 1% changed), and for the changed users how far the incremental profile is from the
full one: top-5 interest overlap, same top interest, same segment, influence rank agreement.
Also what the second full refresh wrote (the writer writes only profiles that changed), and
its write step run again on its own result (profiles considered per second, none written),
and that step's two parts alone: the digests from the result's columns and the read of the
stored ones (users per second each).
Prints a table and writes ``out/bench/refresh.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from bench.common import bench_services, load_shop, report
from core.settings import Settings
from engine.pipeline import load_result
from graph.client import GraphClient
from graph.datasets.synthetic import SyntheticConfig, generate
from graph.queries import Query
from graph.source import ingest_events
from graph.writeback import read_run, stored_digests, write_profiles
from jobs.pseudonyms import Pseudonyms
from jobs.refresh import run_files
from jobs.result_profiles import result_profiles
from jobs.runs import TERMINAL, RunBoard
from jobs.write_digests import ResultDigests
from profilegraph.jobs_cli import task_sender
from profilegraph.processes import celery_processes

PROFILES = Query(
    name="bench_profiles",
    mode="read",
    text="""
    UNWIND $ids AS id MATCH (u:User {user_id: id})
    RETURN u.user_id AS user_id, u.profile_interests AS interests, u.profile_segment AS segment,
           u.profile_influence_rank AS rank, u.profile_run_id AS run_id
""",
)
TIMINGS = Query(
    name="bench_run_timings",
    mode="read",
    text="""
    MATCH (r:ProfileRun {run_id: $run_id}) RETURN r.timings AS timings,
    r.profiles_written AS written
""",
)


def _refresh(settings: Settings, board: RunBoard, mode: str) -> tuple[str, float]:
    run_id = f"bench-{mode}-{time.monotonic_ns()}"
    started = time.perf_counter()
    task_sender(settings, "workers.tasks.refresh")(
        {"mode": mode, "run_id": run_id, "source": "api"}
    )
    while (info := board.get(run_id)).get("state") not in TERMINAL:
        time.sleep(0.1)
    if info["state"] != "complete":
        raise RuntimeError(f"{mode} refresh ended {info}")
    return run_id, time.perf_counter() - started


def _profiles(client: GraphClient, ids: list[str]) -> dict[str, dict[str, Any]]:
    return {r["user_id"]: r for r in client.read(PROFILES, ids=ids)}


def _agreement(inc: dict[str, dict[str, Any]], full: dict[str, dict[str, Any]]) -> dict[str, float]:
    ids = sorted(inc)
    overlap = [
        len(set(inc[u]["interests"]) & set(full[u]["interests"]))
        / max(1, len(full[u]["interests"]))
        for u in ids
    ]
    top1 = [inc[u]["interests"][:1] == full[u]["interests"][:1] for u in ids]
    ranks = spearmanr([inc[u]["rank"] for u in ids], [full[u]["rank"] for u in ids]).statistic
    return {
        "top5_overlap": float(np.mean(overlap)),
        "same_top_interest": float(np.mean(top1)),
        "influence_rank_spearman": float(ranks),
    }


def _rewrite(settings: Settings, client: GraphClient, run_id: str) -> dict[str, Any]:
    """The write step of a complete run again, as a retried or re-run write would: every
    profile compared with what Neo4j holds (its digests), none written."""
    files = run_files(settings, run_id)
    mapping = Pseudonyms.load(files.folder)
    run = read_run(client, run_id)
    if mapping is None or run is None:
        raise RuntimeError(f"run {run_id}: its files or its record are gone")
    candidates, _, _, _ = result_profiles(files.result, mapping)
    again = write_profiles(client, f"{run_id}-again", run["watermark"], candidates)
    # where that time goes: the digests from the result's columns, the read of the stored ones
    saved = load_result(files.result)
    started = time.perf_counter()
    ResultDigests(saved).block(0, len(saved.user_ids))
    digests_s = time.perf_counter() - started
    users = [u for p in saved.user_ids if (u := mapping.resolve("user", p)) is not None]
    started = time.perf_counter()
    for lo in range(0, len(users), 2_000):
        stored_digests(client, users[lo : lo + 2_000])
    read_s = time.perf_counter() - started
    return {
        "rewrite_considered_per_s": again.considered / again.seconds,
        "rewrite_written": again.written,
        "rewrite_digests_per_s": len(saved.user_ids) / digests_s,
        "rewrite_read_per_s": len(users) / read_s,
    }


def run_size(n_users: int, changed: float, epochs: int) -> dict[str, Any]:
    settings = bench_services()
    data = generate(SyntheticConfig(n_users=n_users, n_items=max(100, n_users // 5), seed=11))
    load_shop(settings, data)
    board = RunBoard.connect(settings)
    env = {
        "PROFILEGRAPH_REFRESH__MAX_EPOCHS": str(epochs),
        "PROFILEGRAPH_STATE": str(settings.state),
    }
    row: dict[str, Any] = {"users": n_users, "changed_users": int(n_users * changed)}
    rng = np.random.default_rng(3)
    users = rng.choice(n_users, row["changed_users"], replace=False)
    items = rng.integers(0, data.config.n_items, users.size)
    events = [
        {
            "type": "interaction",
            "event_id": f"bench-refresh-{time.time_ns()}-{k}",
            "user_id": data.user_id(int(u)),
            "item_id": f"i{int(i)}",
            "kind": "purchase",
        }
        for k, (u, i) in enumerate(zip(users, items, strict=True))
    ]
    ids = [e["user_id"] for e in events]
    with celery_processes(settings, env=env), GraphClient(settings.neo4j) as client:
        full, row["full_s"] = _refresh(settings, board, "full")
        ingest_events(client, events, source="bench")
        inc, row["incremental_s"] = _refresh(settings, board, "incremental")
        incremental_profiles = _profiles(client, ids)
        again, row["full_again_s"] = _refresh(settings, board, "full")
        full_profiles = _profiles(client, ids)
        for name, run_id in (("full", full), ("incremental", inc), ("full_again", again)):
            record = client.read(TIMINGS, run_id=run_id)[0]
            for step, seconds in json.loads(record["timings"]).items():
                row[f"{name}_{step}"] = seconds
            row[f"{name}_written"] = record["written"]
        row.update(_rewrite(settings, client, again))
    assert all(p["run_id"] == inc for p in incremental_profiles.values())
    row["incremental_over_full"] = row["incremental_s"] / row["full_s"]
    row.update(_agreement(incremental_profiles, full_profiles))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--changed", type=float, default=0.01, help="fraction of users changed")
    parser.add_argument("--epochs", type=int, default=20, help="full-refresh training epochs")
    parser.add_argument("--out", type=Path, default=Path("out/bench/refresh.json"))
    args = parser.parse_args()
    rows = [run_size(n, args.changed, args.epochs) for n in args.sizes]
    report(
        "incremental vs full refresh (columns = users)",
        rows,
        args.out,
        [
            "changed_users",
            "full_s",
            "incremental_s",
            "incremental_over_full",
            "full_again_s",
            "full_train_s",
            "full_influence_s",
            "full_profile_s",
            "full_write_s",
            "incremental_train_s",
            "incremental_profile_s",
            "incremental_write_s",
            "full_written",
            "incremental_written",
            "full_again_write_s",
            "full_again_written",
            "rewrite_considered_per_s",
            "rewrite_written",
            "rewrite_digests_per_s",
            "rewrite_read_per_s",
            "top5_overlap",
            "same_top_interest",
            "influence_rank_spearman",
        ],
    )


if __name__ == "__main__":
    main()
