"""Graph I/O throughput on synthetic data: ingest, export and write-back, beside GDS.

    python -m bench.graph_io                    # 10k and 100k users
    python -m bench.graph_io --sizes 1000000    # the 1M size (opt-in: ~25M events)

Per size: bulk-import the data set (neo4j-admin), then measure
- ingest events/s through the online path, batched (10k per transaction) vs one per transaction;
- export edges/s into a Snapshot (whole graph; with edge properties, and structure only),
  through the project's ``profilegraph.exportEdges`` procedure and through plain Cypher, vs
  ``gds.graph.project`` of the same graph;
- write-back profiles/s (64-d embedding + all profile fields), first write (new vectors enter
  the HNSW index), a rewrite (a refresh: new values for everyone), a re-run that changed
  nothing and one that changed 1 % of the users (profiles *considered* per second: compared
  with their digests, the changed ones written), vs ``gds.pageRank.write``; and where that time
  goes, by rewriting the same users with parts of the statement left out: the embedding as a
  plain unindexed property, the profile properties alone, the vector index alone, and one
  float per user (the floor of any batched Bolt write on this machine);
- with ``--batch-grid``: the refresh rate under other batch sizes and writer counts (what chose
  ``write_profiles``'s defaults).
Prints a table and writes ``out/bench/graph_io.json``. Runs on its own Neo4j/Redis instance.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import bench_services, load_shop, report
from graph.client import GraphClient
from graph.datasets.synthetic import SyntheticConfig, generate
from graph.export import export_snapshot
from graph.queries import Query, load_query
from graph.selections import WholeGraph
from graph.source import ingest_events
from graph.writeback import TRAIL_RUNS, Interest, ProfileRow, statement_row, write_profiles

GDS_PROJECT = Query(
    name="bench_gds_project",
    mode="read",
    text="""
    CALL gds.graph.project('bench', ['User', 'Item', 'Category'],
      ['VIEWED', 'CLICKED', 'CARTED', 'PURCHASED', 'FOLLOWS', 'IN_CATEGORY'])
    YIELD relationshipCount, projectMillis
    RETURN relationshipCount, projectMillis
    """,
)
GDS_PAGERANK_WRITE = Query(
    name="bench_gds_pagerank_write",
    mode="write",
    text="""
    CALL gds.pageRank.write('bench', {writeProperty: 'bench_pr', maxIterations: 20})
    YIELD nodePropertiesWritten, writeMillis, computeMillis
    RETURN nodePropertiesWritten, writeMillis, computeMillis
    """,
)
GDS_DROP = Query(
    name="bench_gds_drop",
    mode="read",
    text="CALL gds.graph.drop('bench', false) YIELD graphName RETURN graphName",
)


_VECTOR_CALL = "CALL db.create.setNodeVectorProperty(u, 'profile_embedding', row.embedding)"


def _write_back_parts() -> dict[str, Query]:
    """The write-back statement and cut-down versions of it, to see where its time goes."""
    full = load_query("write_profiles").text
    if _VECTOR_CALL not in full:
        raise RuntimeError("write_profiles.cypher changed: update the bench's breakdown")
    match = "UNWIND $rows AS row\nMATCH (u:User {user_id: row.user_id})\n"
    texts = {
        "unindexed_embedding": full.replace(_VECTOR_CALL, "SET u.bench_embedding = row.embedding"),
        "properties_only": match + "SET u += row.props\nRETURN count(*) AS written",
        "vector_only": match + _VECTOR_CALL + "\nRETURN count(*) AS written",
        "one_float": match + "SET u.bench_x = row.watermark\nRETURN count(*) AS written",
    }
    return {key: Query(name=f"bench_{key}", mode="write", text=text) for key, text in texts.items()}


def _profiles(users: list[str], categories: list[str], seed: int) -> list[ProfileRow]:
    """Complete profiles; each seed gives new embeddings and values (a refresh changes them,
    and Neo4j skips the index update of a property set to its current value)."""
    rng = np.random.default_rng(seed)
    embeddings = rng.standard_normal((len(users), 64)).astype(np.float32)
    return [
        ProfileRow(
            user,
            embeddings[k].tolist(),
            {
                "influence": float((k + seed) % 100) / 100,
                "influence_rank": k,
                "segment": k % 8,
                "segment_label": "bench",
                "uncertainty": 0.1,
                "explore": [categories[(k + 3) % 20]],
                "adoptions": (k + seed) % 5,
                "cold_start": False,
            },
            [Interest(categories[(k + j) % 20], 0.5 - 0.1 * j, [f"i{j}"], [], j) for j in range(3)],
        )
        for k, user in enumerate(users)
    ]


def _write_back_breakdown(
    client: GraphClient, users: list[str], categories: list[str], watermark: int
) -> dict[str, float]:
    """Profiles/s of each part, rewriting users already written with new values."""
    rates = {}
    for seed, (key, query) in enumerate(_write_back_parts().items(), start=10):
        rows = [
            statement_row("bench-parts", watermark, seed, p)
            for p in _profiles(users, categories, seed)
        ]
        started = time.perf_counter()
        for lo in range(0, len(rows), 2_000):
            client.write_rows(
                query,
                rows=rows[lo : lo + 2_000],
                run_id="bench-parts",
                trail_runs=TRAIL_RUNS,
                consent_default=True,
            )
        rates[f"part_{key}_per_s"] = len(rows) / (time.perf_counter() - started)
    return rates


def _new_events(n: int, n_users: int, n_items: int, tag: str) -> list[dict[str, Any]]:
    rng = np.random.default_rng(1)
    users, items = rng.integers(0, n_users, n), rng.integers(0, n_items, n)
    pairs = enumerate(zip(users.tolist(), items.tolist(), strict=True))
    return [
        {
            "type": "interaction",
            "event_id": f"bench-{tag}-{k}",
            "user_id": f"u{u}",
            "item_id": f"i{i}",
            "kind": "view",
            "ts": "2024-02-01T00:00:00Z",
        }
        for k, (u, i) in pairs
    ]


BATCH_GRID = [(2_000, 2), (5_000, 2), (500, 2), (2_000, 1)]  # (profiles per batch, writers)


def _batch_grid(
    client: GraphClient, users: list[str], categories: list[str], watermark: int
) -> dict[str, float]:
    rates = {}
    for k, (batch_size, workers) in enumerate(BATCH_GRID):
        profiles = _profiles(users, categories, seed=10 + k)  # new values: a real rewrite
        written = write_profiles(
            client, f"bench-grid-{k}", watermark, profiles, batch_size=batch_size, workers=workers
        )
        rates[f"rewrite_b{batch_size}_w{workers}_per_s"] = written.written / written.seconds
    return rates


def run_size(n_users: int, writeback_users: int, batch_grid: bool = False) -> dict[str, Any]:
    settings = bench_services()
    row: dict[str, Any] = {"users": n_users}
    started = time.perf_counter()
    data = generate(SyntheticConfig(n_users=n_users, n_items=max(100, n_users // 5), seed=7))
    row["events"] = len(data.user) + len(data.follow_src) + len(data.item_category)
    row["writeback_users"] = min(n_users, writeback_users)
    row["generate_s"] = time.perf_counter() - started
    started = time.perf_counter()
    load_shop(settings, data)  # a bulk import, but for a tiny shop (bench.common)
    n_items = data.config.n_items
    del data  # the 1M size: several GB the rest of the run does not need
    row["bulk_import_s"] = time.perf_counter() - started
    row["bulk_events_per_s"] = row["events"] / row["bulk_import_s"]

    with GraphClient(settings.neo4j) as client:
        ingest_events(client, _new_events(2_000, n_users, n_items, "warm"), source="bench")
        events = _new_events(20_000, n_users, n_items, "batched")
        started = time.perf_counter()
        ingest_events(client, events, source="bench", batch_size=10_000)
        row["ingest_batched_per_s"] = len(events) / (time.perf_counter() - started)
        single = _new_events(300, n_users, n_items, "single")
        started = time.perf_counter()
        ingest_events(client, single, source="bench", batch_size=1)
        row["ingest_single_tx_per_s"] = len(single) / (time.perf_counter() - started)

        export_snapshot(client, WholeGraph())  # warm the page cache and query plans
        snapshot = export_snapshot(client, WholeGraph())
        row["export_edges"] = snapshot.num_edges()
        for reader in ("procedure", "cypher"):
            for properties, name in ((True, ""), (False, "_structure")):
                started = time.perf_counter()
                export_snapshot(client, WholeGraph(), properties=properties, reader=reader)
                rate = snapshot.num_edges() / (time.perf_counter() - started)
                row[f"export{name}_{reader}_edges_per_s"] = rate

        client.read(GDS_DROP)
        started = time.perf_counter()
        projected = client.read(GDS_PROJECT)[0]
        gds_seconds = time.perf_counter() - started
        row["gds_project_edges_per_s"] = projected["relationshipCount"] / gds_seconds

        users = snapshot.node_ids["user"][:writeback_users]
        categories = snapshot.node_ids["category"]
        profiles = _profiles(users, categories, seed=0)
        write_profiles(client, "bench-warm", snapshot.watermark, profiles[:5_000])
        # First write: every embedding is new to the HNSW vector index (the expensive case).
        written = write_profiles(client, "bench-run", snapshot.watermark, profiles)
        row["writeback_profiles_per_s"] = written.written / written.seconds
        # A refresh: new embeddings and values for users already indexed, same top interests.
        profiles = _profiles(users, categories, seed=1)
        rewritten = write_profiles(client, "bench-run-2", snapshot.watermark, profiles)
        row["rewrite_profiles_per_s"] = rewritten.written / rewritten.seconds
        # A re-run that changed nothing: every user compared with its digests, none written
        same = write_profiles(client, "bench-run-3", snapshot.watermark, profiles)
        row["rerun_same_considered_per_s"] = same.considered / same.seconds
        row["rerun_same_written"] = same.written
        # ... and one where 1 % of the users have new values and embeddings
        changed = _profiles(users, categories, seed=2)
        mixed = [changed[k] if k % 100 == 0 else p for k, p in enumerate(profiles)]
        one = write_profiles(client, "bench-run-4", snapshot.watermark, mixed)
        row["rerun_1pct_considered_per_s"] = one.considered / one.seconds
        row["rerun_1pct_written"] = one.written
        row.update(_write_back_breakdown(client, users, categories, snapshot.watermark))
        if batch_grid:
            row.update(_batch_grid(client, users, categories, snapshot.watermark))
        started = time.perf_counter()
        pagerank = client.write_rows(GDS_PAGERANK_WRITE)
        pr_seconds = time.perf_counter() - started
        row["gds_pagerank_write_nodes_per_s"] = pagerank / pr_seconds
        client.read(GDS_DROP)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--out", type=Path, default=Path("out/bench/graph_io.json"))
    parser.add_argument(
        "--writeback-users",
        type=int,
        default=100_000,
        help="profiles written per write-back measurement (a rate; the 1M size needs no more)",
    )
    parser.add_argument(
        "--batch-grid",
        action="store_true",
        help="also rewrite under other batch sizes and writer counts",
    )
    args = parser.parse_args()
    rows = [run_size(n, args.writeback_users, args.batch_grid) for n in args.sizes]
    grid = [f"rewrite_b{b}_w{w}_per_s" for b, w in BATCH_GRID] if args.batch_grid else []
    report(
        "graph I/O (synthetic shop; columns = users)",
        rows,
        args.out,
        [
            "events",
            "bulk_import_s",
            "bulk_events_per_s",
            "ingest_batched_per_s",
            "ingest_single_tx_per_s",
            "export_edges",
            "export_procedure_edges_per_s",
            "export_structure_procedure_edges_per_s",
            "export_cypher_edges_per_s",
            "export_structure_cypher_edges_per_s",
            "gds_project_edges_per_s",
            "writeback_users",
            "writeback_profiles_per_s",
            "rewrite_profiles_per_s",
            "rerun_same_considered_per_s",
            "rerun_same_written",
            "rerun_1pct_considered_per_s",
            "rerun_1pct_written",
            "part_unindexed_embedding_per_s",
            "part_properties_only_per_s",
            "part_vector_only_per_s",
            "part_one_float_per_s",
            "gds_pagerank_write_nodes_per_s",
            *grid,
        ],
    )


if __name__ == "__main__":
    main()
