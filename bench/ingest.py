"""Online ingest throughput per source, beside the design before issue 20, and end-to-end latency.

    python -m bench.ingest --users 10000 100000 --writers 1 4 --events 200000

On the bench instance (its own Neo4j, Redis and Kafka, ``bench.common``), the synthetic shop
is bulk-imported at each size; then ``--events`` mixed events (views 60%, carts 15%, purchases
with their orders 10%, follows 15%; ``bench.ingest_costs.mixed_events``) go through each
source with 1 and 4 writers, each writer its own process:

* ``file``: each writer ingests its own JSONL file, its position committed per batch;
* ``redis``: the events are published to a fresh stream; the writers are consumers of one group;
* ``kafka``: published to a fresh 4-partition topic keyed by user; the writers are consumers of
  one group (positions in Neo4j, ``graph.kafka_source``);
* ``legacy``: the design before issue 20 (sequence lock + per-event ledger; the ledger holds
  only these runs' entries, which flatters it), each writer its own files' batches.

Events/s = events / (last commit - first read), publishing excluded; the writers start together
once their imports are done, after an unrecorded pass that warms the restarted server.
Latency: a publisher offers ``--rate`` events/s for ``--seconds`` to Redis and to Kafka while
one consumer applies them; per event, the time from entering the stream (Redis' entry id,
Kafka's CreateTime) to the commit that made it (and its user's ``changed_seq``) visible,
p50/p99. Prints a table and writes ``out/bench/ingest.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from bench.ingest_costs import BATCH, mixed_events

SOURCES = ("file", "redis", "kafka", "legacy")


def _writer(kind: str, work: dict[str, Any], ready: Any, go: Any, out: Any) -> None:
    """One writer process: set up, wait for ``go``, apply, report (applied, first, last)."""
    from bench.common import bench_services
    from graph.client import GraphClient
    from graph.source import EventsSource, apply_source

    settings = bench_services(with_kafka=kind == "kafka")
    times: list[float] = []
    with GraphClient(settings.neo4j) as client:
        ready.set()
        go.wait()
        started = time.time()
        applied = 0
        if kind == "file":
            events = EventsSource.file(Path(work["path"]), name="bench")
            events.batch_size = BATCH
            report = apply_source(client, events, on_batch=lambda r: times.append(time.time()))
            applied = report.applied
        elif kind == "legacy":
            from bench.ingest_costs import timed_batch

            for raw in work["batches"]:
                timed_batch(client, raw, "legacy")
                applied += len(raw)
                times.append(time.time())
        elif kind == "redis":
            from graph.stream import RedisStreamSource
            from profilegraph.services.redis_server import client as redis_client

            with redis_client(settings.redis) as conn:
                stream = RedisStreamSource(
                    conn,
                    stream=work["stream"],
                    consumer=f"bench-{uuid.uuid4().hex[:8]}",
                    batch_size=BATCH,
                    block_ms=200,
                    until_empty=True,
                    after_commit=lambda ids: times.append(time.time()),
                )
                applied = apply_source(client, stream).applied
        elif kind == "kafka":
            from graph.kafka_source import KafkaSource

            topic = KafkaSource(
                settings.kafka,
                work["topic"],
                group=work["group"],
                batch_size=BATCH,
                until_idle_s=3.0,
                after_commit=lambda p, batch: times.append(time.time()),
            )
            applied = apply_source(client, topic).applied
    out.put({"applied": applied, "first": started, "last": max(times, default=started)})


def _run_writers(kind: str, works: list[dict[str, Any]]) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    ready = [ctx.Event() for _ in works]
    go, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(kind, work, r, go, out))
        for work, r in zip(works, ready, strict=True)
    ]
    for p in procs:
        p.start()
    for r in ready:
        r.wait(300)
    go.set()
    results = [out.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join(60)
        if p.exitcode != 0:
            raise RuntimeError(f"a {kind} writer failed (exit {p.exitcode})")
    applied = sum(r["applied"] for r in results)
    wall = max(r["last"] for r in results) - min(r["first"] for r in results)
    return {"applied": applied, "seconds": wall, "events_per_s": applied / wall}


def throughput(
    settings: Any,
    users: int,
    n_items: int,
    writers: int,
    events: int,
    sources: tuple[str, ...] = SOURCES,
) -> dict[str, Any]:
    """events/s of each source with ``writers`` writers, on fresh events."""
    from graph.kafka_source import publish as kafka_publish
    from graph.stream import publish as redis_publish
    from profilegraph.services.kafka_server import ensure_topic
    from profilegraph.services.redis_server import client as redis_client

    row: dict[str, Any] = {"users": users, "writers": writers, "events": events}
    tmp = settings.state / "bench-ingest"
    tmp.mkdir(exist_ok=True)
    for kind in sources:
        tag = f"{kind}-{writers}-{uuid.uuid4().hex[:6]}"
        raw = mixed_events(events, users, n_items, tag, seed=hash(tag) % 2**31)
        per = [raw[w::writers] for w in range(writers)]
        if kind == "file":
            works = []
            for w, chunk in enumerate(per):
                path = tmp / f"{tag}-{w}.jsonl"
                path.write_text("".join(json.dumps(e) + "\n" for e in chunk))
                works.append({"path": str(path)})
        elif kind == "legacy":
            works = [
                {"batches": [chunk[i : i + BATCH] for i in range(0, len(chunk), BATCH)]}
                for chunk in per
            ]
        elif kind == "redis":
            stream = f"bench:events:{tag}"
            with redis_client(settings.redis) as conn:
                for i in range(0, len(raw), 50_000):
                    redis_publish(conn, raw[i : i + 50_000], stream=stream)
                conn.xgroup_create(stream, "profilegraph-ingest", id="0", mkstream=True)
            works = [{"stream": stream} for _ in range(writers)]
        else:
            topic = f"bench-{tag}"
            ensure_topic(settings.kafka, topic, 4)
            kafka_publish(settings.kafka, topic, raw)
            works = [{"topic": topic, "group": f"g-{topic}"} for _ in range(writers)]
        result = _run_writers(kind, works)
        if result["applied"] != events:
            raise RuntimeError(f"{kind}: applied {result['applied']} of {events}")
        row[f"{kind}_events_per_s"] = result["events_per_s"]
        if kind == "redis":
            with redis_client(settings.redis) as conn:
                conn.delete(works[0]["stream"])
        for path in tmp.glob(f"{tag}-*.jsonl"):
            path.unlink()
    return row


def _publisher(kind: str, target: str, rate: int, seconds: float, users: int, n_items: int) -> None:
    from bench.common import bench_services

    settings = bench_services(with_kafka=kind == "kafka")
    tick = 0.02
    per_tick = max(1, int(rate * tick))
    events = mixed_events(int(rate * seconds) + per_tick, users, n_items, f"lat-{target}", 7)
    if kind == "redis":
        from graph.stream import publish
        from profilegraph.services.redis_server import client as redis_client

        with redis_client(settings.redis) as conn:
            start = time.monotonic()
            for k, i in enumerate(range(0, len(events), per_tick)):
                time.sleep(max(0.0, start + k * tick - time.monotonic()))
                publish(conn, events[i : i + per_tick], stream=target)
    else:
        from confluent_kafka import Producer

        producer = Producer({**settings.kafka.client_config(), "linger.ms": 1})
        start = time.monotonic()
        for k, i in enumerate(range(0, len(events), per_tick)):
            time.sleep(max(0.0, start + k * tick - time.monotonic()))
            for e in events[i : i + per_tick]:
                producer.produce(target, value=json.dumps(e), key=e["user_id"])
            producer.poll(0)
        producer.flush(30)


def latency(
    settings: Any, kind: str, rate: int, seconds: float, users: int, n_items: int
) -> dict[str, Any]:
    """p50/p99 from entering the stream to the commit, at ``rate`` events/s offered."""
    from graph.client import GraphClient
    from graph.kafka_source import KafkaSource
    from graph.source import apply_source
    from graph.stream import RedisStreamSource
    from profilegraph.services.kafka_server import ensure_topic
    from profilegraph.services.redis_server import client as redis_client

    tag = uuid.uuid4().hex[:6]
    lat: list[float] = []
    ctx = mp.get_context("spawn")
    with GraphClient(settings.neo4j) as client:
        if kind == "redis":
            target = f"bench:latency:{tag}"
            with redis_client(settings.redis) as conn:
                conn.xgroup_create(target, "profilegraph-ingest", id="$", mkstream=True)
                pub = ctx.Process(
                    target=_publisher, args=(kind, target, rate, seconds, users, n_items)
                )
                pub.start()

                def seen(ids: list[bytes]) -> None:
                    now = time.time() * 1000
                    lat.extend(now - int(i.split(b"-")[0]) for i in ids)

                stream = RedisStreamSource(
                    conn, stream=target, batch_size=BATCH, block_ms=50, after_commit=seen
                )
                deadline = time.monotonic() + seconds + 60

                def drained() -> bool:
                    idle = not (pub.is_alive() or stream.pending() or conn.xlen(target))
                    return idle or time.monotonic() >= deadline

                apply_source(client, stream, stop=drained)
                pub.join()
                conn.delete(target)
        else:
            target = f"bench-latency-{tag}"
            ensure_topic(settings.kafka, target, 4)
            pub = ctx.Process(target=_publisher, args=(kind, target, rate, seconds, users, n_items))

            def seen_kafka(partition: int, batch: list[Any]) -> None:
                now = time.time() * 1000
                lat.extend(now - m.timestamp()[1] for m in batch)

            topic = KafkaSource(
                settings.kafka,
                target,
                group=f"g-{target}",
                batch_size=BATCH,
                until_idle_s=5.0,
                after_commit=seen_kafka,
            )
            pub.start()
            apply_source(client, topic)
            pub.join()
    values = np.array(lat)
    return {
        "source": kind,
        "offered_per_s": rate,
        "events": len(values),
        "p50_ms": float(np.percentile(values, 50)),
        "p99_ms": float(np.percentile(values, 99)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[10_000])
    parser.add_argument("--writers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--events", type=int, default=200_000, help="per source and run")
    parser.add_argument("--rate", type=int, default=5_000, help="offered events/s (latency)")
    parser.add_argument("--seconds", type=float, default=20.0, help="latency run length")
    parser.add_argument("--sources", nargs="+", default=list(SOURCES), choices=SOURCES)
    parser.add_argument("--out", type=Path, default=Path("out/bench/ingest.json"))
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    from bench.common import bench_services, load_shop
    from graph.datasets.synthetic import SyntheticConfig, generate

    rows, latencies = [], []
    for users in args.users:
        settings = bench_services(with_kafka=True)
        n_items = max(1_000, users // 10)
        load_shop(settings, generate(SyntheticConfig(n_users=users, n_items=n_items, seed=0)))
        # a pass that is not recorded: the restarted server's page cache and JIT warm up
        sources = tuple(args.sources)
        throughput(settings, users, n_items, 1, min(args.events, 50_000), sources)
        for writers in args.writers:
            rows.append(throughput(settings, users, n_items, writers, args.events, sources))
            Console().print(rows[-1])
        for kind in ("redis", "kafka"):
            latencies.append(
                {"users": users, **latency(settings, kind, args.rate, args.seconds, users, n_items)}
            )
            Console().print(latencies[-1])
    table = Table(title=f"online ingest, events/s ({args.events:,} mixed events per run)")
    table.add_column("users")
    table.add_column("writers", justify="right")
    for kind in args.sources:
        table.add_column(kind, justify="right")
    for row in rows:
        table.add_row(
            f"{row['users']:,}",
            str(row["writers"]),
            *(f"{row[f'{k}_events_per_s']:,.0f}" for k in args.sources),
        )
    Console().print(table)
    lat = Table(title=f"end to end: entering the stream -> committed ({args.rate:,}/s offered)")
    for column in ("users", "source", "events", "p50 ms", "p99 ms"):
        lat.add_column(column, justify="right")
    for row in latencies:
        lat.add_row(
            f"{row['users']:,}",
            row["source"],
            f"{row['events']:,}",
            f"{row['p50_ms']:,.0f}",
            f"{row['p99_ms']:,.0f}",
        )
    Console().print(lat)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"throughput": rows, "latency": latencies}, indent=2))
    Console().print(f"written {args.out}")


if __name__ == "__main__":
    main()
