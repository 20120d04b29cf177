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

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.errors import ServiceUnavailable
from core.settings import KafkaSettings
from graph.client import GraphClient
from graph.events import DEFAULT_CURRENCY, Event, Rejection, make_rejection, parse_event
from graph.ingest import (
    IngestReport,
    PositionConflict,
    SourceRange,
    SourceRanges,
    apply_batch,
    committed_position,
)
from graph.schema import ensure_schema

if TYPE_CHECKING:  # the online path loads the engine (torch) only when a run exists
    from graph.online import OnlineUpdate


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
class KafkaConsumer:
    graph: GraphClient
    settings: KafkaSettings
    topic: str
    group: str = "profilegraph-ingest"
    batch_size: int = 5_000
    poll_s: float = 0.2  # the longest a batch waits to fill: the latency floor at low rates
    max_buffered_events: int = 50_000
    currency: str = DEFAULT_CURRENCY
    # Test and bench seams: called with (partition, its messages in the batch) after reading /
    # after the Neo4j commit.
    after_read: Callable[[int, list[Any]], None] | None = None
    after_commit: Callable[[int, list[Any]], None] | None = None
    on_erased: Callable[[list[str]], None] | None = None
    online: OnlineUpdate | None = None  # the online profile path (graph.online)
    stop: threading.Event = field(default_factory=threading.Event)
    assigned: set[int] = field(default_factory=set)
    _active_at: float = 0.0

    @property
    def source(self) -> str:
        return source_name(self.topic)

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        from confluent_kafka import OFFSET_BEGINNING

        for tp in partitions:
            committed = committed_position(self.graph, self.source, tp.partition)
            tp.offset = committed + 1 if committed >= 0 else OFFSET_BEGINNING
        consumer.assign(partitions)
        self.assigned = {tp.partition for tp in partitions}
        self._active_at = time.monotonic()  # idleness counts from the assignment

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        consumer.unassign()
        self.assigned = set()

    def run(
        self,
        *,
        max_batches: int | None = None,
        until_idle_s: float | None = None,
        on_batch: Callable[[IngestReport], None] | None = None,
    ) -> IngestReport:
        """Consume until ``stop`` is set, ``max_batches`` batches are applied, or (with
        ``until_idle_s``) nothing arrived for that long while partitions were assigned."""
        from confluent_kafka import Consumer

        ensure_schema(self.graph)
        consumer = Consumer(consumer_config(self.settings, self.group, self.max_buffered_events))
        consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        total = IngestReport()
        batches = 0
        self._active_at = time.monotonic()
        try:
            while not self.stop.is_set() and (max_batches is None or batches < max_batches):
                messages = consumer.consume(num_messages=self.batch_size, timeout=self.poll_s)
                if not messages:
                    if (
                        until_idle_s is not None
                        and self.assigned
                        and time.monotonic() - self._active_at >= until_idle_s
                    ):
                        break
                    continue
                self._active_at = time.monotonic()
                for report in self._apply(consumer, messages):
                    total.merge(report)
                    batches += 1
                    if on_batch is not None:
                        on_batch(report)
        finally:
            consumer.close()  # leaves the group at once: its partitions move without a timeout
        return total

    def _apply(self, consumer: Any, messages: list[Any]) -> list[IngestReport]:
        from confluent_kafka import KafkaError, TopicPartition

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
        if not by_partition:
            return []
        for partition, batch in by_partition.items():
            if self.after_read is not None:
                self.after_read(partition, batch)
        validated = {p: self._validate(p, batch) for p, batch in by_partition.items()}
        ranges = {
            p: SourceRange(self.source, p, batch[0].offset(), batch[-1].offset())
            for p, batch in by_partition.items()
        }
        if len(by_partition) > 1:  # the whole poll in one transaction
            try:
                report = apply_batch(
                    self.graph,
                    [e for valid, _ in validated.values() for e in valid],
                    [r for _, rejected in validated.values() for r in rejected],
                    SourceRanges(tuple(ranges.values())),
                    online=self.online,
                )
            except PositionConflict:
                pass  # a rebalance in flight: partition by partition below
            else:
                self._committed(consumer, list(by_partition), by_partition, ranges, report)
                return [report]
        reports = []
        for partition in by_partition:
            valid, rejected = validated[partition]
            try:
                report = apply_batch(
                    self.graph, valid, rejected, ranges[partition], online=self.online
                )
            except PositionConflict as conflict:  # another consumer got there: resume after it
                consumer.seek(TopicPartition(self.topic, partition, conflict.committed + 1))
                continue
            self._committed(consumer, [partition], by_partition, ranges, report)
            reports.append(report)
        return reports

    def _committed(
        self,
        consumer: Any,
        partitions: list[int],
        by_partition: dict[int, list[Any]],
        ranges: dict[int, SourceRange],
        report: IngestReport,
    ) -> None:
        """After the Neo4j commit: the seams, Kafka's group offsets (for its tools' lag), and
        the erasure of users the batch deleted."""
        from confluent_kafka import TopicPartition

        for partition in partitions:
            if self.after_commit is not None:
                self.after_commit(partition, by_partition[partition])
        consumer.commit(
            offsets=[TopicPartition(self.topic, p, ranges[p].last + 1) for p in partitions],
            asynchronous=True,
        )
        if report.erased and self.on_erased is not None:
            self.on_erased(report.erased)

    def _validate(self, partition: int, batch: list[Any]) -> tuple[list[Event], list[Rejection]]:
        valid: list[Event] = []
        rejected: list[Rejection] = []
        for message in batch:
            where, offset = f"{self.source}/{partition}", message.offset()
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
        return valid, rejected


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
