"""Does a change leave the written profiles as they were? A refresh result written into Neo4j,
read back property by property and edge by edge.

    python -m bench.same_written --dataset lastfm --result /tmp/r --save /tmp/w.json
    (at another commit, e.g. in a git worktree, with PYTHONPATH pointing at it and the
    services restarted from it, so that the server runs that commit's procedure)
    python -m bench.same_written --dataset lastfm --result /tmp/r --against /tmp/w.json
    python -m bench.same_written --synthetic 300 --epochs 1   # procedure against Cypher writer

On the bench's own Neo4j: empties the database, loads the data set through the ingest path,
exports it and runs the recipe's full run on it (``--epochs`` at most, one CPU thread), or
reuses the result ``--result`` holds (a fresh load and export may order the edges otherwise,
which moves the training's sums in the 7th digit: compare writers on one result); writes the
result with the refresh's write path (through the server-side procedure, and with
``--cypher`` or without ``--save`` / ``--against`` also through the Cypher writer into the
emptied profiles) and reads back every profiled user: all properties but
``profile_updated_at`` (the clock's) and ``profile_digests`` (the writer's bookkeeping, whose
format may change), and every INTERESTED_IN / RECOMMENDED / NEXT_CATEGORY edge with its
properties. ``--save`` keeps the dump; ``--against`` compares it with a saved one; the
procedure's and the Cypher writer's dumps of one run are compared with each other.
Prints and writes (``--out``) how many values were compared and which differ.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import torch

from bench.common import bench_services, load_shop
from bench.same_profiles import differences
from core.profile_contract import property_names
from core.settings import Settings
from core.vocabulary import PROFILE_TYPES
from engine.pipeline import run_full, save_result
from graph.client import GraphClient
from graph.datasets import DATASETS
from graph.datasets.synthetic import SyntheticConfig, generate
from graph.export import export_snapshot
from graph.queries import Query
from graph.selections import WholeGraph
from graph.source import ingest_events
from graph.writeback import WRITE_PROCEDURE, write_profiles
from jobs.pseudonyms import Pseudonyms, pseudonymise
from jobs.recipe import pipeline_config

RUN_ID = "same-written"
LEFT_OUT = ("profile_updated_at", "profile_digests")
WRITTEN = Query(
    name="bench_same_written",
    mode="read",
    text="""MATCH (u:User) WHERE u.profile_run_id IS NOT NULL
    RETURN u.user_id AS user, properties(u) AS props,
           COLLECT { MATCH (u)-[r]->(n) WHERE type(r) IN $types
                     RETURN [type(r), r.rank, coalesce(n.name, n.item_id), properties(r)]
                     ORDER BY type(r), r.rank } AS edges
    ORDER BY user""",
)


EMPTY_PROFILES = Query(
    name="bench_empty_profiles",
    mode="write",
    text="""MATCH (u:User) WHERE u.profile_run_id IS NOT NULL
    CALL (u) { MATCH (u)-[r]->() WHERE type(r) IN $types DELETE r }
    SET u += $nulls""",
)


def _load(settings: Settings, dataset: str, synthetic: int) -> None:
    if synthetic:
        load_shop(settings, generate(SyntheticConfig(n_users=synthetic, seed=0)))
        return
    data = DATASETS[dataset]
    with GraphClient(settings.neo4j) as client:
        while client.write_rows("empty_database", limit=20_000):
            pass
        events, _ = data.read(settings.datasets_dir / data.default)
        ingest_events(client, events, source=dataset)


def _score(client: GraphClient, folder: Path, epochs: int) -> None:
    """The recipe's full run on the graph as loaded: its result, pseudonyms and watermark."""
    snapshot = export_snapshot(client, WholeGraph())
    folder.mkdir(parents=True, exist_ok=True)
    pseudonymise(snapshot, None).save(folder)
    config = pipeline_config(Settings(), max_epochs=epochs)
    save_result(run_full(snapshot, config, run_id=RUN_ID), folder / "result.pt")
    (folder / "watermark").write_text(json.dumps(snapshot.watermark))


def _candidates(result: Path, mapping: Pseudonyms) -> Any:
    try:
        from jobs.result_profiles import result_profiles
    except ImportError:  # a commit before the columnar writer (f747d7c)
        from jobs.refresh import profile_rows as result_profiles  # type: ignore[attr-defined]
    return result_profiles(result, mapping)[0]


def written(
    client: GraphClient, result: Path, mapping: Pseudonyms, watermark: int, procedure: bool
) -> list[dict[str, Any]]:
    """Every profile as this commit's writer leaves it, written into profiles emptied first."""
    nulls = dict.fromkeys(sorted(property_names()))
    client.write(EMPTY_PROFILES, types=list(PROFILE_TYPES), nulls=nulls)
    has = client.has_procedure(WRITE_PROCEDURE)
    if procedure and not has:
        raise RuntimeError(f"{WRITE_PROCEDURE} is not on this server")
    client.procedures[WRITE_PROCEDURE] = procedure
    try:
        write_profiles(client, RUN_ID, watermark, _candidates(result, mapping))
    finally:
        client.procedures[WRITE_PROCEDURE] = has
    return dump(client)


def dump(client: GraphClient, left_out: tuple[str, ...] = LEFT_OUT) -> list[dict[str, Any]]:
    """Every profiled user, by id: their properties but ``left_out``, and their profile edges
    (type, rank, target, properties) by type and rank."""
    rows = client.read(WRITTEN, types=list(PROFILE_TYPES))
    for row in rows:
        for key in left_out:
            row["props"].pop(key, None)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="lastfm")
    parser.add_argument("--synthetic", type=int, default=0, help="the synthetic shop instead")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--cypher", action="store_true", help="also through the Cypher writer")
    parser.add_argument(
        "--result", type=Path, help="the run's result here (made if absent, else reused)"
    )
    parser.add_argument("--save", type=Path, help="keep this run's dump in this file")
    parser.add_argument("--against", type=Path, help="compare with a file --save wrote")
    parser.add_argument("--out", type=Path, default=Path("out/bench/same_written.json"))
    args = parser.parse_args()
    settings = bench_services()
    _load(settings, args.dataset, args.synthetic)
    torch.set_num_threads(1)
    with GraphClient(settings.neo4j) as client, tempfile.TemporaryDirectory() as scratch:
        folder = args.result or Path(scratch)
        if not (folder / "result.pt").exists():
            _score(client, folder, args.epochs)
        result, watermark = folder / "result.pt", json.loads((folder / "watermark").read_text())
        mapping = Pseudonyms.load(folder)
        assert mapping is not None
        mine = written(client, result, mapping, watermark, procedure=True)
        both = args.cypher or (args.save is None and args.against is None)
        cypher = written(client, result, mapping, watermark, False) if both else None
    table: dict[str, Any] = {
        "data": f"synthetic-{args.synthetic}" if args.synthetic else args.dataset,
        "epochs": args.epochs,
        "profiles": len(mine),
        "edges": sum(len(row["edges"]) for row in mine),
        "left_out": list(LEFT_OUT),
    }
    if cypher is not None:
        compared, differ = differences(mine, cypher)
        table.update(cypher_values=compared, cypher_differ=len(differ), cypher_first=differ[:10])
    if args.save is not None:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps(mine, default=str))
    if args.against is not None:
        other = json.loads(args.against.read_text())
        compared, differ = differences(other, json.loads(json.dumps(mine, default=str)))
        table.update(against=str(args.against), values=compared, differ=len(differ))
        table["first_differences"] = differ[:30]
    print(json.dumps(table, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table, indent=2))
    if table.get("differ") or table.get("cypher_differ"):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
