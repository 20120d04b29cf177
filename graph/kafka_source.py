"""Consume events from a Kafka topic with a consumer group; exactly once into Neo4j.

Client: confluent-kafka (Confluent's maintained binding of librdkafka, wheels with the library
inside; kafka-python is pure Python and several times slower at decoding, which is this path's
budget).

The position of every partition is committed *in Neo4j*, in the transaction that applies the
partition's batch (:class:`graph.ingest.SourceRange`; a poll that spans several partitions is
one transaction holding each partition's range, :class:`graph.ingest.SourceRanges`). When the
group assigns a partition to a consumer (at start, or after a rebalance) the consumer seeks to
the position Neo4j holds, not to Kafka's committed offset, so a crash or a rebalance at any
point neither loses nor doubles an event: what committed is skipped, what did not is read
again. Kafka's group offsets are committed after Neo4j's as well, only so that Kafka's tools
show the group's lag. Two consumers that hold one partition for a moment (a rebalance in
flight) serialise on the position's lock; the later one finds the batch committed and moves on.

A message that is not a valid event (bad JSON, a bad field, an empty value) is dead-lettered
with its partition as its source (``kafka:<topic>/<partition>``) and its offset as its line,
and the position still advances past it. Backpressure: a batch is read only after the previous
one committed, and librdkafka's read-ahead is bounded (``queued.max.messages.kbytes``), so a
slow Neo4j slows the consumer instead of filling its memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from core.errors import ServiceUnavailable
from core.settings import KafkaSettings, Settings
from graph.client import GraphClient
from graph.events import DEFAULT_CURRENCY, Event, Rejection, make_rejection, parse_event
from graph.ingest import (
    IngestReport,
    PositionConflict,
    SourceRange,
    SourceRanges,
    committed_position,
)
from graph.source import Backlog, Delivery


def source_name(topic: str) -> str:
    """The name a topic's partitions' positions are kept under in Neo4j."""
    return f"kafka:{topic}"


def consumer_config(
    settings: KafkaSettings, group: str, max_buffered_events: int
) -> dict[str, Any]:
    return {
        **settings.client_config(),
        "group.id": group,
        "enable.auto.commit": False,  # Neo4j holds the positions; Kafka's follow them
        "auto.offset.reset": "earliest",
        # read-ahead bound: about 1 KiB per event at most
        "queued.max.messages.kbytes": max(1_024, min(max_buffered_events, 2_000_000)),
        "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 1_000,
        "log_level": 3,
    }


@dataclass
class KafkaSource:
    """A Kafka topic read by a consumer group (:class:`graph.source.Source`); with
    ``until_idle_s`` its deliveries end once nothing arrived for that long while partitions
    were assigned."""

    settings: KafkaSettings
    topic: str
    group: str = "profilegraph-ingest"
    batch_size: int = 5_000
    poll_s: float = 0.2  # the longest a batch waits to fill: the latency floor at low rates
    max_buffered_events: int = 50_000
    currency: str = DEFAULT_CURRENCY
    until_idle_s: float | None = None
    # Test and bench seams: called with (partition, its messages in the batch) after reading /
    # after the Neo4j commit.
    after_read: Callable[[int, list[Any]], None] | None = None
    after_commit: Callable[[int, list[Any]], None] | None = None
    assigned: set[int] = field(default_factory=set)
    _active_at: float = 0.0
    _graph: GraphClient | None = None
    _consumer: Any = None

    @classmethod
    def from_settings(
        cls, settings: Settings, topic: str, *, until_idle_s: float | None = None
    ) -> KafkaSource:
        return cls(
            settings.kafka,
            topic,
            group=settings.kafka.group,
            currency=settings.value.currency,
            max_buffered_events=settings.ingest.max_buffered_events,
            until_idle_s=until_idle_s,
        )

    @property
    def name(self) -> str:
        return source_name(self.topic)

    def deliveries(self, graph: GraphClient) -> Iterator[Delivery | None]:
        from confluent_kafka import Consumer

        self._graph = graph
        consumer = Consumer(consumer_config(self.settings, self.group, self.max_buffered_events))
        consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        self._consumer = consumer
        self._active_at = time.monotonic()
        try:
            while True:
                messages = consumer.consume(num_messages=self.batch_size, timeout=self.poll_s)
                by_partition = self._partitioned(messages)
                if not by_partition:
                    if (
                        self.until_idle_s is not None
                        and self.assigned
                        and time.monotonic() - self._active_at >= self.until_idle_s
                    ):
                        return
                    yield None
                    continue
                self._active_at = time.monotonic()
                for partition, batch in by_partition.items():
                    if self.after_read is not None:
                        self.after_read(partition, batch)
                yield self._delivery(by_partition)
        finally:
            consumer.close()  # leaves the group at once: its partitions move without a timeout
            self._consumer = None

    def committed(self, delivery: Delivery, report: IngestReport) -> None:
        """After the Neo4j commit: the seams, and Kafka's group offsets (for its tools' lag)."""
        from confluent_kafka import TopicPartition

        parts: dict[int, _Partition] = delivery.handle
        for partition, part in parts.items():
            if self.after_commit is not None:
                self.after_commit(partition, part.messages)
        self._consumer.commit(
            offsets=[TopicPartition(self.topic, p, part.last + 1) for p, part in parts.items()],
            asynchronous=True,
        )

    def conflict(self, delivery: Delivery, error: PositionConflict) -> list[Delivery]:
        """A poll over several partitions: partition by partition instead. One partition:
        another consumer got there first (a rebalance in flight); resume after it."""
        from confluent_kafka import TopicPartition

        parts: dict[int, _Partition] = delivery.handle
        if len(parts) > 1:
            return [self._delivery({p: part.messages}, {p: part}) for p, part in parts.items()]
        (partition,) = parts
        self._consumer.seek(TopicPartition(self.topic, partition, error.committed + 1))
        return []

    def backlog(self, graph: GraphClient) -> list[Backlog]:
        """Per partition: the topic's end offset against the position Neo4j committed."""
        from confluent_kafka import Consumer, KafkaException, TopicPartition

        consumer = Consumer(
            {**self.settings.client_config(), "group.id": self.group, "log_level": 0}
        )
        try:
            try:
                meta = consumer.list_topics(self.topic, timeout=10)
            except KafkaException as error:
                raise ServiceUnavailable(
                    f"Kafka at {self.settings.bootstrap} does not answer: {error} "
                    "(profilegraph services up --with kafka)"
                ) from error
            topic = meta.topics.get(self.topic)
            partitions = sorted(topic.partitions) if topic is not None else []
            positions = {
                row["partition"]: row
                for row in graph.read("source_positions", prefix=self.name)
                if row["source"] == self.name
            }
            out = []
            for p in partitions:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(self.topic, p), timeout=10
                )
                row = positions.get(p)
                applied = max(int(row["offset"]) + 1, low) if row else low
                events = int(row["events"]) if row else 0
                out.append(Backlog(self.name, str(p), high, applied, 0, events))
            return out
        finally:
            consumer.close()

    def erase(self, user_ids: set[str]) -> int:
        return 0  # a topic's records leave by its retention: Kafka cannot delete one record

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        from confluent_kafka import OFFSET_BEGINNING

        assert self._graph is not None
        for tp in partitions:
            committed = committed_position(self._graph, self.name, tp.partition)
            tp.offset = committed + 1 if committed >= 0 else OFFSET_BEGINNING
        consumer.assign(partitions)
        self.assigned = {tp.partition for tp in partitions}
        self._active_at = time.monotonic()  # idleness counts from the assignment

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        consumer.unassign()
        self.assigned = set()

    def _partitioned(self, messages: list[Any]) -> dict[int, list[Any]]:
        """The poll's messages by partition; errors raised when fatal, else skipped."""
        from confluent_kafka import KafkaError

        by_partition: dict[int, list[Any]] = {}
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                if error.fatal() or error.code() in (
                    KafkaError._AUTHENTICATION,
                    KafkaError.TOPIC_AUTHORIZATION_FAILED,
                    KafkaError.UNKNOWN_TOPIC_OR_PART,
                ):
                    raise ServiceUnavailable(f"Kafka topic {self.topic!r}: {error.str()}")
                continue  # transient (the client retries): nothing was delivered
            by_partition.setdefault(message.partition(), []).append(message)
        return by_partition

    def _delivery(
        self, by_partition: dict[int, list[Any]], parts: dict[int, _Partition] | None = None
    ) -> Delivery:
        """One delivery for the poll: a poll that spans partitions is one transaction holding
        each partition's range."""
        parts = parts or {p: self._validate(p, batch) for p, batch in by_partition.items()}
        ranges = [SourceRange(self.name, p, part.first, part.last) for p, part in parts.items()]
        return Delivery(
            [e for part in parts.values() for e in part.valid],
            [r for part in parts.values() for r in part.rejected],
            ranges[0] if len(ranges) == 1 else SourceRanges(tuple(ranges)),
            handle=parts,
        )

    def _validate(self, partition: int, batch: list[Any]) -> _Partition:
        valid: list[Event] = []
        rejected: list[Rejection] = []
        for message in batch:
            where, offset = f"{self.name}/{partition}", message.offset()
            value = message.value()
            if value is None:
                parsed: Event | Rejection = make_rejection(
                    "",
                    where,
                    offset,
                    reason="message has no value",
                    field="(message)",
                    value=f"{where}@{offset}",
                )
            else:
                parsed = parse_event(value, source=where, line=offset, currency=self.currency)
            (rejected if isinstance(parsed, Rejection) else valid).append(parsed)  # type: ignore[arg-type]
        return _Partition(batch, valid, rejected, batch[0].offset(), batch[-1].offset())


@dataclass
class _Partition:
    """One partition's part of a poll."""

    messages: list[Any]
    valid: list[Event]
    rejected: list[Rejection]
    first: int
    last: int


def publish(
    settings: KafkaSettings, topic: str, events: list[Any], key_field: str = "user_id"
) -> int:
    """Produce raw events (dicts as JSON) keyed by their user, so one user's events stay in one
    partition, in order. Returns how many were acknowledged."""
    import json

    from confluent_kafka import Producer

    producer = Producer({**settings.client_config(), "enable.idempotence": True, "linger.ms": 20})
    failed: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            failed.append(str(error))

    for event in events:
        payload = event if isinstance(event, str | bytes) else json.dumps(event)
        key = event.get(key_field) if isinstance(event, dict) else None
        while True:
            try:
                producer.produce(
                    topic,
                    value=payload,
                    key=None if key is None else str(key),
                    on_delivery=delivered,
                )
                break
            except BufferError:  # the producer's queue is full: let it drain
                producer.poll(0.5)
        producer.poll(0)
    producer.flush(60)
    if failed:
        raise ServiceUnavailable(f"Kafka refused {len(failed)} event(s): {failed[0]}")
    return len(events)
