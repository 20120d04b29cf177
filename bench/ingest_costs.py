"""Where the online ingest's time goes (issue 20, step 1: measure before changing anything).

    python -m bench.ingest_costs --users 10000 100000 --writers 1 4 --designs legacy new

On the bench instance (its own Neo4j and Redis, ``bench.common``), with the synthetic shop loaded
at each size, batches of 10,000 mixed events (views 60%, carts 15%, purchases with their orders
10%, follows 15%) go through the online path. Per batch the same transaction as
``graph.ingest.apply_batch`` runs, timed part by part: validation (client side), then for the
``legacy`` design (before issue 20) the sequence lock and the per-event ledger, for the ``new``
one the epoch read and the source position (lock and advance); each event type's MERGE, and
the commit. With several writers each runs its own batches (its own partition) at once and the
events/s are summed.
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

from graph.queries import Query

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


# The design before issue 20, kept here for the comparison: every ingest transaction first took
# the next sequence number on the one Watermark node (a write lock held to commit, so writers
# queued behind each other), then claimed every event id in the ledger.
LEGACY_SEQUENCE = Query(
    name="bench_legacy_next_ingest_seq",
    mode="write",
    text="MERGE (w:Watermark {name: 'legacy-ingest'}) ON CREATE SET w.seq = 0 "
    "SET w.seq = w.seq + 1 RETURN w.seq AS seq",
)
DESIGNS = ("legacy", "new", "shipped")


def timed_batch(
    client: Any, raw: list[dict[str, Any]], design: str = "new", position: Any = None
) -> dict[str, float]:
    """One batch through apply_batch's steps in one transaction, each step timed. ``legacy``:
    the sequence lock and the per-event ledger; ``new``: the open epoch (a read) and the
    source position (``position``, a SourceRange), Cypher for every type; ``shipped``:
    ``apply_batch`` itself (the server-side procedures), its queries timed by name."""
    from graph.ingest import (
        _query,
        _segments,
        _tag_category_rows,
        apply_batch,
        ledger_key,
        validate_batch,
    )

    parts: dict[str, float] = {}
    tic = time.perf_counter()
    valid, rejected = validate_batch(raw, "bench")
    parts["validate"] = time.perf_counter() - tic
    if design == "shipped":
        timings: dict[str, float] = {}
        apply_batch(client, valid, rejected, position, timings=timings)
        parts["transaction"] = timings.pop("transaction")
        parts.update(timings)
        parts["commit"] = parts["transaction"] - sum(timings.values())  # and the Python around
        parts["total"] = parts["transaction"] + parts["validate"]
        return parts
    keys = {ledger_key(e.event_id): e for e in valid}

    def work(tx: Any) -> None:
        for key in list(parts):
            if key != "validate":
                parts.pop(key)  # a retried attempt starts over
        t = time.perf_counter()
        if design == "legacy":
            seq = tx.run(LEGACY_SEQUENCE)[0]["seq"]
            parts["sequence_lock"] = time.perf_counter() - t
            t = time.perf_counter()
            claimed = set(tx.run("claim_events", keys=list(keys), seq=seq)[0]["fresh"])
            parts["ledger"] = time.perf_counter() - t
            fresh = [e for k, e in keys.items() if k in claimed]
        else:
            seq = tx.run("read_ingest_epoch")[0]["epoch"]
            parts["epoch_read"] = time.perf_counter() - t
            t = time.perf_counter()
            tx.run("lock_source_position", source=position.source, partition=position.partition)
            parts["position"] = time.perf_counter() - t
            fresh = list(keys.values())
        for segment in _segments(fresh):
            for key, rows in segment:
                t = time.perf_counter()
                tx.run(_query(key), rows=rows, seq=seq)
                if key == "ingest_tags":
                    tx.run("ingest_tag_categories", rows=_tag_category_rows(rows))
                name = key.split(":")[-1].lower() if ":" in key else key.removeprefix("ingest_")
                parts[name] = parts.get(name, 0.0) + time.perf_counter() - t
        if design != "legacy":
            t = time.perf_counter()
            tx.run(
                "advance_source_position",
                source=position.source,
                partition=position.partition,
                offset=position.last,
                events=len(fresh),
            )
            parts["position"] += time.perf_counter() - t
        parts["_before_commit"] = time.perf_counter()

    tic = time.perf_counter()
    client.transaction(work, name="ingest_batch")
    end = time.perf_counter()
    parts["commit"] = end - parts.pop("_before_commit")
    parts["transaction"] = end - tic
    parts["total"] = parts["transaction"] + parts["validate"]
    return parts


def run(users: int, writers: list[int], designs: list[str], batches: int) -> list[dict[str, Any]]:
    from bench.common import bench_services
    from graph.client import GraphClient
    from graph.datasets.synthetic import SyntheticConfig, generate, synthetic_events
    from graph.ingest import SourceRange
    from graph.source import ingest_events
    from tests.graph.conftest import wipe

    settings = bench_services()
    n_items = max(1_000, users // 10)
    with GraphClient(settings.neo4j) as client:
        # loaded online, not bulk-imported: the ledger then holds an entry per loaded event,
        # as a live shop's does, and the lookups the legacy batches make are priced at that size
        wipe(client)
        data = generate(SyntheticConfig(n_users=users, n_items=n_items, seed=0))
        ingest_events(client, synthetic_events(data), source="bench-load")
        for design in designs:  # plans, caches
            warm = SourceRange("bench:warm", 0, 0, 0)
            timed_batch(client, mixed_events(2_000, users, n_items, "warm", 99), design, warm)
    rows = []
    for design in designs:
        for n_writers in writers:
            streams = [
                [
                    mixed_events(
                        BATCH, users, n_items, f"{design}{n_writers}w{w}b{b}", 1000 * w + b
                    )
                    for b in range(batches)
                ]
                for w in range(n_writers)
            ]

            def writer(w: int, streams: list[Any] = streams, design: str = design) -> list[Any]:
                with GraphClient(settings.neo4j) as client:
                    return [
                        timed_batch(
                            client,
                            raw,
                            design,
                            SourceRange(f"bench:{design}", w, b * BATCH, (b + 1) * BATCH - 1),
                        )
                        for b, raw in enumerate(streams[w])
                    ]

            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=n_writers) as pool:
                results = [r for rs in pool.map(writer, range(n_writers)) for r in rs]
            wall = time.perf_counter() - started
            events = n_writers * batches * BATCH
            row: dict[str, Any] = {
                "users": users,
                "design": design,
                "writers": n_writers,
                "events": events,
                "events_per_s": events / wall,
            }
            for key in sorted({k for r in results for k in r}):
                row[f"{key}_ms"] = 1000 * float(np.mean([r.get(key, 0.0) for r in results]))
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[10_000])
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--batches", type=int, default=3, help="per writer")
    parser.add_argument("--designs", nargs="+", default=list(DESIGNS), choices=DESIGNS)
    parser.add_argument("--out", type=Path, default=Path("out/bench/ingest_costs.json"))
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    rows = [r for u in args.users for r in run(u, args.writers, args.designs, args.batches)]
    keys = [*sorted({k for r in rows for k in r if k.endswith("_ms")}), "events_per_s"]
    table = Table(title=f"online ingest, batches of {BATCH:,} mixed events: mean ms per batch")
    table.add_column("part")
    for row in rows:
        table.add_column(
            f"{row['users']:,} users, {row['design']}, {row['writers']} writer(s)", justify="right"
        )
    for key in keys:
        table.add_row(key, *(f"{r.get(key, 0):,.0f}" for r in rows))
    Console().print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"batch": BATCH, "rows": rows}, indent=2))
    Console().print(f"written {args.out}")


if __name__ == "__main__":
    main()
