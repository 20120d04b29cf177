"""How far each source's consumers are behind, and how fast they apply (``profilegraph lag``).

Kafka: per partition, the topic's end offset against the position Neo4j committed for it
(``graph.kafka_source``: Neo4j, not Kafka's group offsets, is where consumers resume). Redis:
per stream and group, the entries not yet delivered (``XINFO GROUPS`` lag) and those delivered
but not yet acknowledged (pending). The rate is measured over ``sample_s``: events committed per
second (Kafka: the positions' event counts; Redis: the group's entries read).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import redis

from core.errors import ServiceUnavailable
from core.settings import Settings
from graph.client import GraphClient
from graph.kafka_source import source_name


@dataclass
class LagRow:
    source: str
    partition: str
    end: int  # the source's end (Kafka: high watermark; Redis: entries added)
    applied: int  # what the consumers committed (Kafka: position + 1; Redis: entries read)
    lag: int
    pending: int  # Redis: delivered, not acknowledged; Kafka: 0
    rate: float  # events/s over the sample

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def kafka_lag(
    settings: Settings, graph: GraphClient, topic: str
) -> dict[int, tuple[int, int, int]]:
    """``partition -> (end offset, committed position + 1, events applied)``."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer = Consumer(
        {**settings.kafka.client_config(), "group.id": settings.kafka.group, "log_level": 0}
    )
    try:
        try:
            meta = consumer.list_topics(topic, timeout=10)
        except KafkaException as error:
            raise ServiceUnavailable(
                f"Kafka at {settings.kafka.bootstrap} does not answer: {error} "
                "(profilegraph services up --with kafka)"
            ) from error
        partitions = sorted(meta.topics[topic].partitions) if topic in meta.topics else []
        positions = {
            row["partition"]: row
            for row in graph.read("source_positions", prefix=source_name(topic))
            if row["source"] == source_name(topic)
        }
        out = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            row = positions.get(p)
            applied = max(int(row["offset"]) + 1, low) if row else low
            out[p] = (high, applied, int(row["events"]) if row else 0)
        return out
    finally:
        consumer.close()


def redis_lag(conn: redis.Redis, stream: str) -> dict[str, tuple[int, int, int, int]]:
    """``group -> (entries added, entries read, lag, pending)``."""
    if not conn.exists(stream):
        return {}
    added = int(conn.xinfo_stream(stream)["entries-added"])
    out = {}
    for group in conn.xinfo_groups(stream):
        name = group["name"].decode() if isinstance(group["name"], bytes) else group["name"]
        read = int(group.get("entries-read") or 0)
        lag = group.get("lag")
        out[name] = (
            added,
            read,
            int(lag) if lag is not None else added - read,
            int(group["pending"]),
        )
    return out


def measure(
    settings: Settings,
    graph: GraphClient,
    conn: redis.Redis | None,
    *,
    topics: list[str],
    streams: list[str],
    sample_s: float = 2.0,
) -> list[LagRow]:
    def sample() -> tuple[dict[str, Any], dict[str, Any]]:
        k = {t: kafka_lag(settings, graph, t) for t in topics}
        r = {s: redis_lag(conn, s) for s in streams} if conn is not None else {}
        return k, r

    k0, r0 = sample()
    started = time.monotonic()
    time.sleep(sample_s)
    k1, r1 = sample()
    elapsed = time.monotonic() - started
    rows = []
    for topic, parts in k1.items():
        for p, (end, applied, events) in parts.items():
            before = k0[topic].get(p, (0, 0, events))[2]
            rate = (events - before) / elapsed
            rows.append(LagRow(f"kafka:{topic}", str(p), end, applied, end - applied, 0, rate))
    for stream, groups in r1.items():
        for group, (added, read, lag, pending) in groups.items():
            before = r0[stream].get(group, (0, read, 0, 0))[1]
            rate = (read - before) / elapsed
            rows.append(LagRow(f"redis:{stream}", group, added, read, lag, pending, rate))
    return rows
