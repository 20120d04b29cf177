"""Profile write-back designs side by side, with look-alike search quality and latency.

    python -m bench.writeback --users 100000
    python -m bench.writeback --users 10000 100000 1000000 --profiles 100000   # 1M: opt-in

On the bench instance (``bench.common``), with the synthetic shop bulk-loaded at each size,
``--profiles`` complete profiles (64-d clustered embedding, every contract field, 3 interests
with evidence, 10 recommendations, 3 next categories) are written by ``write_profiles`` as a
refresh does (2,000 a batch, two writers), in four designs:

* ``cypher+index``: ``write_profiles.cypher``, each embedding inserted into the HNSW index;
* ``procedure+index``: ``profilegraph.writeProfiles`` (packed columns), index kept;
* ``cypher`` and ``procedure``: the same without the vector index.

Each design writes four times: a first write (users without a profile; the previous design's
profiles are removed first), a refresh (new embeddings and values, a third of the users with
new top interests), a re-run of the same profiles (compared with their digests: nothing
written) and a re-run where 1 % of the users changed; the re-runs count profiles *considered*
per second. Those re-runs make each profile's row to digest it (what the tests and loaders
hand the writer); ``rerun_digested`` re-runs the same profiles as a refresh hands them over,
their digests made beforehand (``jobs.write_digests``) and a row made only for a changed user,
and ``rerun_digested_1pct`` the same with 1 % of the users changed.
Then look-alikes for ``--queries`` seed users: through the HNSW index
(``db.index.vector.queryNodes``, as ``lookalike_audience.cypher`` did) and exactly through
``profilegraph.lookalikes`` (a scan of every profile): latency p50/p95 of each and the index's
recall@10 against the exact answer. And the procedure's time for one batch of 2,000 profiles
carrying more of a profile each time (properties and embedding, then the interests, then the
recommendations, then the next categories). Prints a table and writes ``out/bench/writeback.json``.
"""

from __future__ import annotations

import argparse
import gc
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import bench_services, report
from graph.client import GraphClient
from graph.queries import Query
from graph.schema import apply_schema
from graph.writeback import (
    WRITE_PROCEDURE,
    CandidateBlock,
    Interest,
    ProfileRow,
    Recommendation,
    statement_row,
    write_profiles,
)

DESIGNS = ("cypher+index", "procedure+index", "cypher", "procedure")
CATEGORIES = Query(
    name="bench_categories", mode="read", text="MATCH (c:Category) RETURN c.name AS name"
)
DROP_INDEX = Query(
    name="bench_drop_vector_index", mode="write", text="DROP INDEX user_profile_embedding IF EXISTS"
)
AWAIT = Query(name="bench_await", mode="write", text="CALL db.awaitIndexes(3600)")
CLEAR_SOME = Query(
    name="bench_clear_profiles",
    mode="write",
    text="""
    MATCH (u:User) WHERE u.profile_run_id IS NOT NULL
    WITH u LIMIT 5000
    CALL (u) {
      OPTIONAL MATCH (u)-[r:INTERESTED_IN|RECOMMENDED|NEXT_CATEGORY]->() DELETE r
    }
    REMOVE u.profile_run_id, u.profile_watermark, u.profile_embedding, u.profile_interests,
           u.profile_trail, u.profile_stage_trail, u.profile_digests
    RETURN count(*) AS cleared
    """,
)
HNSW = Query(
    name="bench_hnsw_lookalikes",
    mode="read",
    text="""
    MATCH (s:User {user_id: $user_id})
    CALL db.index.vector.queryNodes('user_profile_embedding', $k + 1, s.profile_embedding)
    YIELD node, score WITH node, score WHERE node <> s
    RETURN node.user_id AS user_id ORDER BY score DESC LIMIT $k
    """,
)
EXACT = Query(
    name="bench_exact_lookalikes",
    mode="read",
    text="""
    MATCH (s:User {user_id: $user_id})
    CALL profilegraph.lookalikes([x IN s.profile_embedding | toFloat(x)], $k, [$user_id])
    YIELD node, score
    RETURN node.user_id AS user_id ORDER BY score DESC
    """,
)


def _profiles(
    users: list[str], categories: list[str], n_items: int, seed: int, moved: float
) -> list[ProfileRow]:
    """Complete profiles; ``moved`` of the users get new top interests (edges replaced)."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).standard_normal((50, 64)).astype(np.float32)
    vectors = centres[rng.integers(0, 50, len(users))]
    vectors += 0.5 * rng.standard_normal(vectors.shape).astype(np.float32)
    shift = (rng.random(len(users)) < moved).astype(int)
    items = rng.integers(0, n_items, (len(users), 10))
    out = []
    for k, user in enumerate(users):
        top = [categories[(k + j + shift[k]) % len(categories)] for j in range(3)]
        out.append(
            ProfileRow(
                user,
                vectors[k].tolist(),
                {
                    "influence": float(rng.random()),
                    "influence_rank": k,
                    "segment": k % 8,
                    "segment_label": "bench",
                    "uncertainty": 0.1,
                    "explore": [top[-1]],
                    "adoptions": k % 5,
                    "cold_start": False,
                    "next_categories": top,
                    "next_category_probabilities": [0.5, 0.3, 0.2],
                },
                [Interest(c, 0.5 - 0.1 * j, [f"i{items[k, j]}"], [], j) for j, c in enumerate(top)],
                [
                    Recommendation(
                        f"i{items[k, r]}", r + 1, 1.0 - 0.05 * r, "exploit", "bench", top[0]
                    )
                    for r in range(10)
                ],
            )
        )
    return out


def _digested(profiles: list[ProfileRow]) -> list[CandidateBlock]:
    """Profiles as the refresh hands them to the writer: blocks of 2,000 with their part
    digests and embeddings made beforehand."""
    return [
        CandidateBlock.of_rows(profiles[lo : lo + 2_000]) for lo in range(0, len(profiles), 2_000)
    ]


def _rate(client: GraphClient, run_id: str, profiles: list[ProfileRow]) -> float:
    report_ = write_profiles(client, run_id, 1, profiles)
    if report_.written != len(profiles):
        raise RuntimeError(f"{run_id}: wrote {report_.written} of {len(profiles)}")
    return report_.written / report_.seconds


def _lookalikes(client: GraphClient, users: list[str], queries: int) -> dict[str, float]:
    rng = np.random.default_rng(5)
    seeds = [users[int(i)] for i in rng.integers(0, len(users), queries)]
    times: dict[str, list[float]] = {"hnsw": [], "exact": []}
    hits = 0
    for user in seeds:
        answers = {}
        for name, query in (("hnsw", HNSW), ("exact", EXACT)):
            started = time.perf_counter()
            answers[name] = {r["user_id"] for r in client.read(query, user_id=user, k=10)}
            times[name].append(time.perf_counter() - started)
        hits += len(answers["hnsw"] & answers["exact"])
    row = {"hnsw_recall@10": hits / (10 * len(seeds))}
    for name, values in times.items():
        row[f"{name}_p50_ms"] = float(np.percentile(values, 50) * 1e3)
        row[f"{name}_p95_ms"] = float(np.percentile(values, 95) * 1e3)
    return row


PARTS = {  # what one batch carries, cumulatively
    "props+embedding": (),
    "+interests": ("interests",),
    "+recommendations": ("interests", "recommendations"),
    "+next categories": ("interests", "recommendations", "next_categories"),
}


def _parts(
    client: GraphClient, users: list[str], categories: list[str], n_items: int
) -> dict[str, float]:
    """ms for one batch of 2,000 refreshed profiles (fewer where fewer users were written)
    through the procedure, carrying more of a profile each time (fresh users per row, new
    values, a third with new top interests)."""
    from graph.writeback import DIGESTS, TRAIL_RUNS, ProfileColumns

    out = {}
    size = max(1, min(2_000, len(users) // len(PARTS)))
    out["batch_profiles"] = float(size)
    for k, (name, tables) in enumerate(PARTS.items()):
        some = users[size * k : size * (k + 1)]
        profiles = _profiles(some, categories, n_items, 50 + k, 0.3)
        digests = [statement_row("bench-parts", 1, 0, p)["digests"] for p in profiles]
        write = [dict.fromkeys(DIGESTS, True) for _ in profiles]
        batch = ProfileColumns.of_rows(profiles).packed("bench-parts", 1, 0, digests, write)
        for table in ("interests", "recommendations", "next_categories"):
            if table not in tables:
                batch[table] = {column: [] for column in batch[table]}
        started = time.perf_counter()
        client.write_rows(
            "write_profiles_packed",
            batch=batch,
            run_id="bench-parts",
            trail_runs=TRAIL_RUNS,
            consent_default=True,
        )
        out[f"batch_{name}_ms"] = (time.perf_counter() - started) * 1e3
    return out


def run_size(
    n_users: int, n_profiles: int, queries: int, designs: tuple[str, ...] = DESIGNS
) -> dict[str, Any]:
    from bench.common import load_shop
    from graph.datasets.synthetic import SyntheticConfig, generate

    settings = bench_services()
    n_items = max(100, n_users // 5)
    load_shop(settings, generate(SyntheticConfig(n_users=n_users, n_items=n_items, seed=7)))
    row: dict[str, Any] = {"users": n_users, "profiles": min(n_users, n_profiles)}
    users = [f"u{k}" for k in range(row["profiles"])]
    with GraphClient(settings.neo4j) as client:
        apply_schema(client)
        categories = sorted(r["name"] for r in client.read(CATEGORIES))
        # warm-up, not reported: JIT, page cache, query plans
        _rate(client, "bench-warm", _profiles(users[:5_000], categories, n_items, 0, 0.3))
        for design in designs:
            client.procedures[WRITE_PROCEDURE] = design.startswith("procedure")
            while client.write_rows(CLEAR_SOME):
                pass
            if design.endswith("+index"):
                apply_schema(client)  # creates the vector index if it was dropped
                client.write(AWAIT)
            else:
                client.write(DROP_INDEX)
            row[f"{design}_first_per_s"] = _rate(
                client, f"bench-{design}-1", _profiles(users, categories, n_items, 1, 0.0)
            )
            refreshed = _profiles(users, categories, n_items, 2, 0.3)
            row[f"{design}_refresh_per_s"] = _rate(client, f"bench-{design}-2", refreshed)
            # re-runs: the same profiles (nothing written), then 1 % of the users changed
            changed = _profiles(users, categories, n_items, 3, 0.3)
            for name, profiles, expected in (
                ("same", refreshed, 0),
                ("1pct", [changed[k] if k % 100 == 0 else p for k, p in enumerate(refreshed)], -1),
            ):
                again = write_profiles(client, f"bench-{design}-{name}", 1, profiles)
                if expected == 0 and again.written:
                    raise RuntimeError(f"{design}: a re-run of the same profiles wrote some")
                row[f"{design}_rerun_{name}_per_s"] = again.considered / again.seconds
                row[f"{design}_rerun_{name}_written"] = again.written
            # the refresh's re-runs: digests made beforehand (jobs.write_digests makes them from
            # the result's columns), a row made only for a changed user; first the profiles the
            # 1 % re-run left stored, then back to the refresh's (those 1 % change again)
            left, moved = profiles, len(range(0, len(users), 100))
            for name, stored, expected in (
                ("digested", left, 0),
                ("digested_1pct", refreshed, moved),
            ):
                digested = _digested(stored)
                gc.collect()  # the profiles made here are the bench's, not the writer's garbage
                again = write_profiles(client, f"bench-{design}-{name}", 1, digested)
                if again.written != expected:
                    raise RuntimeError(f"{design}: {name} wrote {again.written}, not {expected}")
                row[f"{design}_rerun_{name}_per_s"] = again.considered / again.seconds
            print({k: round(v) for k, v in row.items() if k.startswith(design)}, flush=True)
        apply_schema(client)  # the index, populated from the last design's embeddings
        client.write(AWAIT)
        client.procedures[WRITE_PROCEDURE] = True
        row.update(_parts(client, users, categories, n_items))
        row.update(_lookalikes(client, users, queries))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[100_000])
    parser.add_argument("--profiles", type=int, default=100_000, help="written per design")
    parser.add_argument("--queries", type=int, default=50, help="look-alike seed users")
    parser.add_argument("--designs", nargs="+", choices=DESIGNS, default=list(DESIGNS))
    parser.add_argument("--out", type=Path, default=Path("out/bench/writeback.json"))
    args = parser.parse_args()
    designs = tuple(args.designs)
    rows = [run_size(n, args.profiles, args.queries, designs) for n in args.users]
    metrics = ["profiles"]
    for design in designs:
        metrics += [f"{design}_first_per_s", f"{design}_refresh_per_s"]
        metrics += [f"{design}_rerun_same_per_s", f"{design}_rerun_1pct_per_s"]
        metrics += [f"{design}_rerun_digested_per_s", f"{design}_rerun_digested_1pct_per_s"]
        metrics += [f"{design}_rerun_1pct_written"]
    metrics += [f"batch_{name}_ms" for name in PARTS]
    metrics += ["hnsw_recall@10", "hnsw_p50_ms", "hnsw_p95_ms", "exact_p50_ms", "exact_p95_ms"]
    report(
        "profile write-back, profiles/s, and look-alikes (columns = users)", rows, args.out, metrics
    )


if __name__ == "__main__":
    main()
