"""HNSW vector-index settings: insert rate against lookalike recall, for 64-d embeddings.

    python -m bench.vector_index                     # 20k vectors, five configurations
    python -m bench.vector_index --vectors 50000 --configs default project

Why: the profile embedding is written into Neo4j's vector index on every write-back, and that
index insert is the largest single cost of a profile write (see bench.graph_io's parts). This
bench is what chose the settings in ``cypher/schema.cypher``. Per configuration it builds a fresh
index on ``:BenchVector`` nodes (its own label, so the project's index is never touched), then
measures
- insert vectors/s, a first write and a rewrite with new values, in batches of 2,000 through
  ``db.create.setNodeVectorProperty`` (what ``write_profiles`` does);
- recall@10 of ``db.index.vector.queryNodes`` against exact cosine neighbours (100 queries);
- mean query latency.
The vectors are clustered (50 centres plus noise), closer to trained embeddings than iid noise.
Prints a table and writes ``out/bench/vector_index.json``. Runs on the bench's own instance.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import bench_services, report
from graph.client import GraphClient
from graph.queries import Query

CONFIGS = {
    "default": "",
    "unquantised": ", `vector.quantization.enabled`: false",
    "ef24": ", `vector.quantization.enabled`: false, `vector.hnsw.ef_construction`: 24",
    "project": ", `vector.quantization.enabled`: false, `vector.hnsw.ef_construction`: 40",
    "ef64": ", `vector.quantization.enabled`: false, `vector.hnsw.ef_construction`: 64",
}
INDEX = "bench_vector"
BATCH = 2_000


def _q(name: str, text: str, mode: str = "write") -> Query:
    return Query(name=f"bench_vector_{name}", mode=mode, text=text)


CREATE_NODES = _q("create", "UNWIND range($lo, $hi - 1) AS i CREATE (:BenchVector {i: i})")
DELETE_SOME = _q(
    "delete", "MATCH (n:BenchVector) WITH n LIMIT 10000 DETACH DELETE n RETURN count(*) AS n"
)
DROP_INDEX = _q("drop", f"DROP INDEX {INDEX} IF EXISTS")
AWAIT = _q("await", "CALL db.awaitIndexes(300)")
SET_VECTORS = _q(
    "set",
    """
    UNWIND $rows AS row
    MATCH (n:BenchVector {i: row.i})
    CALL db.create.setNodeVectorProperty(n, 'embedding', row.embedding)
    RETURN count(*) AS n
    """,
)
LOOKUP = _q(
    "lookup_index", "CREATE INDEX bench_vector_i IF NOT EXISTS FOR (n:BenchVector) ON (n.i)"
)
QUERY = _q(
    "query",
    f"CALL db.index.vector.queryNodes('{INDEX}', $k, $v) YIELD node RETURN node.i AS i",
    mode="read",
)


def _create_index(options: str) -> Query:
    return _q(
        "create_index",
        f"CREATE VECTOR INDEX {INDEX} FOR (n:BenchVector) ON n.embedding OPTIONS {{indexConfig: "
        f"{{`vector.dimensions`: 64, `vector.similarity_function`: 'cosine'{options}}}}}",
    )


def _vectors(n: int, rng: np.random.Generator) -> np.ndarray:
    centres = rng.standard_normal((50, 64)).astype(np.float32)
    noise = rng.standard_normal((n, 64)).astype(np.float32)
    return centres[rng.integers(0, 50, n)] + 0.5 * noise


def _insert(client: GraphClient, vectors: np.ndarray) -> float:
    started = time.perf_counter()
    for lo in range(0, len(vectors), BATCH):
        rows = [
            {"i": lo + k, "embedding": v.tolist()} for k, v in enumerate(vectors[lo : lo + BATCH])
        ]
        client.write_rows(SET_VECTORS, rows=rows)
    return len(vectors) / (time.perf_counter() - started)


def _recall(
    client: GraphClient, vectors: np.ndarray, queries: np.ndarray, k: int = 10
) -> tuple[float, float]:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    hits, started = 0, time.perf_counter()
    for q in queries:
        found = {r["i"] for r in client.read(QUERY, k=k + 1, v=vectors[q].tolist())} - {int(q)}
        exact = set(np.argsort(-(unit @ unit[q]))[: k + 1].tolist()) - {int(q)}
        hits += len(found & exact)
    seconds = (time.perf_counter() - started) / len(queries)
    return hits / (k * len(queries)), seconds


def _delete_nodes(client: GraphClient) -> None:
    while client.write_rows(DELETE_SOME):
        pass


def run_config(client: GraphClient, name: str, n: int, seed: int) -> dict[str, Any]:
    client.write(DROP_INDEX)
    client.write(_q("clear", "MATCH (n:BenchVector) REMOVE n.embedding"))
    client.write(_create_index(CONFIGS[name]))
    client.write(AWAIT)
    rng = np.random.default_rng(seed)
    row: dict[str, Any] = {"users": name, "vectors": n}
    row["insert_per_s"] = _insert(client, _vectors(n, rng))
    rewrites = []
    for _ in range(2):  # the better of two: one commit stall is noise, not the index
        vectors = _vectors(n, rng)
        rewrites.append(_insert(client, vectors))
    row["rewrite_per_s"] = max(rewrites)
    row["recall@10"], query_s = _recall(client, vectors, rng.integers(0, n, 100))
    row["query_ms"] = query_s * 1e3
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vectors", type=int, default=20_000)
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/bench/vector_index.json"))
    args = parser.parse_args()
    settings = bench_services()
    with GraphClient(settings.neo4j) as client:
        _delete_nodes(client)
        client.write(LOOKUP)
        client.write(CREATE_NODES, lo=0, hi=args.vectors)
        client.write(AWAIT)
        try:
            # Warm-up, not reported: the first configuration measured would otherwise pay for
            # the JVM's compilation and a cold page cache (a third of its rate, measured).
            run_config(client, args.configs[0], args.vectors, args.seed)
            rows = [run_config(client, name, args.vectors, args.seed) for name in args.configs]
        finally:
            client.write(DROP_INDEX)
            _delete_nodes(client)
            client.write(_q("drop_lookup", "DROP INDEX bench_vector_i IF EXISTS"))
    report(
        "HNSW vector index (64-d, cosine; columns = configuration)",
        rows,
        args.out,
        ["vectors", "insert_per_s", "rewrite_per_s", "recall@10", "query_ms"],
    )


if __name__ == "__main__":
    main()
