"""Where the online ingest's time goes (issue 20, step 1: measure before changing anything).

    python -m bench.ingest_costs --users 10000 100000 --writers 1 4

On the bench instance (its own Neo4j and Redis, ``bench.common``), with the synthetic shop loaded
at each size, batches of 10,000 mixed events (views 60%, carts 15%, purchases with their orders
10%, follows 15%) go through the online path. Per batch the same transaction as
``graph.ingest.apply_batch`` runs, timed part by part: validation (client side), the sequence
lock (``next_ingest_seq``), the ledger (``claim_events``), each event type's MERGE, and the
commit; with several writers each runs its own batches at once and the events/s are summed.
Prints a table and writes ``out/bench/ingest_costs.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

BATCH = 10_000
KINDS = (("view", 0.60), ("cart", 0.15), ("purchase", 0.10), ("follow", 0.15))


def mixed_events(n: int, n_users: int, n_items: int, tag: str, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    kinds = rng.choice(len(KINDS), size=n, p=[p for _, p in KINDS])
    users = rng.integers(0, n_users, n)
    others = rng.integers(0, n_users, n)
    items = rng.integers(0, n_items, n)
    out: list[dict[str, Any]] = []
    for k, (kind, u, v, i) in enumerate(
        zip(kinds.tolist(), users.tolist(), others.tolist(), items.tolist(), strict=True)
    ):
        name = KINDS[kind][0]
        ts = f"2024-03-01T{k % 24:02d}:{k % 60:02d}:00Z"
        if name == "follow":
            if u == v:
                v = (v + 1) % n_users
            out.append(
                {
                    "type": "follow",
                    "event_id": f"{tag}-{k}",
                    "user_id": f"u{u}",
                    "target_user_id": f"u{v}",
                    "ts": ts,
                }
            )
            continue
        event = {
            "type": "interaction",
            "event_id": f"{tag}-{k}",
            "user_id": f"u{u}",
            "item_id": f"i{i}",
            "kind": name,
            "ts": ts,
        }
        if name == "purchase":
            event.update(amount=9.99, currency="USD")
        out.append(event)
    return out


def timed_batch(client: Any, raw: list[dict[str, Any]]) -> dict[str, float]:
    """One batch through apply_batch's steps in one transaction, each step timed."""
    from graph.ingest import _query, _segments, _tag_category_rows, ledger_key, validate_batch

    parts: dict[str, float] = {}
    tic = time.perf_counter()
    valid, _ = validate_batch(raw, "bench")
    parts["validate"] = time.perf_counter() - tic
    keys = {ledger_key(e.event_id): e for e in valid}

    def work(tx: Any) -> None:
        for key in list(parts):
            if key != "validate":
                parts.pop(key)  # a retried attempt starts over
        t = time.perf_counter()
        seq = tx.run("next_ingest_seq")[0]["seq"]
        parts["sequence_lock"] = time.perf_counter() - t
        t = time.perf_counter()
        claimed = set(tx.run("claim_events", keys=list(keys), seq=seq)[0]["fresh"])
        parts["ledger"] = time.perf_counter() - t
        fresh = [e for k, e in keys.items() if k in claimed]
        for segment in _segments(fresh):
            for key, rows in segment:
                t = time.perf_counter()
                tx.run(_query(key), rows=rows, seq=seq)
                if key == "ingest_tags":
                    tx.run("ingest_tag_categories", rows=_tag_category_rows(rows))
                name = key.split(":")[-1].lower() if ":" in key else key.removeprefix("ingest_")
                parts[name] = parts.get(name, 0.0) + time.perf_counter() - t
        parts["_before_commit"] = time.perf_counter()

    tic = time.perf_counter()
    client.transaction(work, name="bench_ingest")
    end = time.perf_counter()
    parts["commit"] = end - parts.pop("_before_commit")
    parts["transaction"] = end - tic
    parts["total"] = parts["transaction"] + parts["validate"]
    return parts


def run(users: int, writers: int, batches: int) -> dict[str, Any]:
    from bench.common import bench_services
    from graph.client import GraphClient
    from graph.datasets.synthetic import SyntheticConfig, generate, synthetic_events
    from graph.ingest import ingest_events
    from tests.graph.conftest import wipe

    settings = bench_services()
    n_items = max(1_000, users // 10)
    with GraphClient(settings.neo4j) as client:
        # loaded online, not bulk-imported: the ledger then holds an entry per loaded event,
        # as a live shop's does, and the lookups the batches make are priced at that size
        wipe(client)
        data = generate(SyntheticConfig(n_users=users, n_items=n_items, seed=0))
        ingest_events(client, synthetic_events(data), source="bench-load")
        timed_batch(client, mixed_events(2_000, users, n_items, "warm", 99))  # plans, caches
    streams = [
        [mixed_events(BATCH, users, n_items, f"w{w}b{b}", 1000 * w + b) for b in range(batches)]
        for w in range(writers)
    ]

    def writer(batches_of_one: list[list[dict[str, Any]]]) -> list[dict[str, float]]:
        with GraphClient(settings.neo4j) as client:
            return [timed_batch(client, raw) for raw in batches_of_one]

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=writers) as pool:
        results = [r for rs in pool.map(writer, streams) for r in rs]
    wall = time.perf_counter() - started
    events = writers * batches * BATCH
    row: dict[str, Any] = {
        "users": users,
        "writers": writers,
        "events": events,
        "events_per_s": events / wall,
    }
    for key in sorted({k for r in results for k in r}):
        row[f"{key}_ms"] = 1000 * float(np.mean([r.get(key, 0.0) for r in results]))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[10_000])
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--batches", type=int, default=3, help="per writer")
    parser.add_argument("--out", type=Path, default=Path("out/bench/ingest_costs.json"))
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    rows = [run(u, w, args.batches) for u in args.users for w in args.writers]
    keys = [k for k in rows[0] if k.endswith("_ms") or k == "events_per_s"]
    table = Table(title=f"online ingest, batches of {BATCH:,} mixed events: mean ms per batch")
    table.add_column("part")
    for row in rows:
        table.add_column(f"{row['users']:,} users, {row['writers']} writer(s)", justify="right")
    for key in keys:
        table.add_row(key, *(f"{r.get(key, 0):,.0f}" for r in rows))
    Console().print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"batch": BATCH, "rows": rows}, indent=2))
    Console().print(f"written {args.out}")


if __name__ == "__main__":
    main()
