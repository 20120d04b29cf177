"""One way in for events: a :class:`Source` hands out deliveries, :func:`apply_source` applies
them, one Neo4j transaction each, and tells the source when each committed.

A source is an event file or any iterable (:class:`EventsSource`), a Redis stream
(:class:`graph.stream.RedisStreamSource`) or a Kafka topic
(:class:`graph.kafka_source.KafkaSource`). Each does four things its own way:

* read: :meth:`Source.deliveries` yields validated batches, each with the guard that makes its
  replay harmless (a file's or a partition's position, a consumer group's delivery, the event
  ledger; :mod:`graph.ingest`), or ``None`` when nothing arrived within a poll; it ends by the
  source's own rule (a file's end, a drained stream, a topic idle for a while);
* commit: :meth:`Source.committed` after the transaction (a stream acknowledges, Kafka moves its
  group offsets); the position itself committed *with* the data;
* lag: :meth:`Source.backlog`, what is still to apply (progress bars, ``profilegraph lag``);
* erase: :meth:`Source.erase`, the copies of a deleted user's events the source still holds.

Everything that every source needs is here once: the schema, the online profile path (applied
inside each transaction), erasure after a batch that deleted users, progress, and stopping.
``jobs.consume.consume`` wires the deployment's online path and erasure in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from graph.client import GraphClient
from graph.event_files import position_name, read_events
from graph.events import DEFAULT_CURRENCY, Event, Located, Rejection
from graph.ingest import (
    EventLedger,
    Guard,
    IngestReport,
    PositionConflict,
    SourceRange,
    apply_batch,
    committed_position,
    validate_batch,
)
from graph.schema import ensure_schema

if TYPE_CHECKING:  # the online path loads the engine (torch) only when a run exists
    from graph.online import OnlineUpdate


@dataclass
class Delivery:
    """One batch of a source, validated, with the guard its transaction commits."""

    events: list[Event]
    rejections: list[Rejection]
    guard: Guard
    handle: Any = None  # what the source needs to acknowledge it (message ids, partitions)


@dataclass(frozen=True)
class Backlog:
    """What one partition of a source holds and what of it was applied."""

    source: str
    partition: str  # a partition number, a consumer group, or "0"
    end: int  # the source's end (a file's lines, a topic's high watermark, a stream's entries)
    applied: int  # what committed (a position + 1, or the group's entries read)
    pending: int = 0  # delivered and not acknowledged (a stream)
    counter: int = 0  # a count that grows by the events applied (the rate is measured on it)

    @property
    def lag(self) -> int:
        return max(self.end - self.applied, 0)


class Source(Protocol):
    name: str

    def deliveries(self, graph: GraphClient) -> Iterator[Delivery | None]: ...

    def committed(self, delivery: Delivery, report: IngestReport) -> None: ...

    def conflict(self, delivery: Delivery, error: PositionConflict) -> list[Delivery]:
        """Another consumer committed part of the delivery first: what to apply instead."""
        ...

    def backlog(self, graph: GraphClient) -> list[Backlog]: ...

    def erase(self, user_ids: set[str]) -> int:
        """Delete the source's own copies of events that name these users; how many."""
        ...


def apply_source(
    graph: GraphClient,
    source: Source,
    *,
    online: OnlineUpdate | None = None,
    on_batch: Callable[[IngestReport], None] | None = None,
    on_erased: Callable[[list[str]], None] | None = None,
    max_batches: int | None = None,
    stop: Callable[[], bool] | None = None,
) -> IngestReport:
    """Apply the source's deliveries until it ends, ``max_batches`` committed, or ``stop()``
    says so (asked after each batch and each empty poll). After each commit: the source's
    acknowledgement, then ``on_erased`` with the users the batch deleted (their copies outside
    Neo4j go next), then ``on_batch``."""
    ensure_schema(graph)
    total = IngestReport()
    batches = 0
    deliveries = source.deliveries(graph)
    try:
        for delivery in deliveries:
            if delivery is not None:
                for applied, report in _apply(graph, source, delivery, online):
                    source.committed(applied, report)
                    if report.erased:
                        source.erase(set(report.erased))
                        if on_erased is not None:
                            on_erased(report.erased)
                    total.merge(report)
                    batches += 1
                    if on_batch is not None:
                        on_batch(report)
            if (max_batches is not None and batches >= max_batches) or (stop and stop()):
                break
    finally:
        deliveries.close()  # the source's connections and helper threads go now
    return total


def _apply(
    graph: GraphClient, source: Source, delivery: Delivery, online: OnlineUpdate | None
) -> Iterator[tuple[Delivery, IngestReport]]:
    """The delivery applied, or what the source applies instead after a position conflict
    (each with its report)."""
    try:
        report = apply_batch(
            graph, delivery.events, delivery.rejections, delivery.guard, online=online
        )
    except PositionConflict as error:
        for instead in source.conflict(delivery, error):
            yield from _apply(graph, source, instead, online)
    else:
        yield delivery, report


@dataclass
class EventsSource:
    """Any iterable of raw events (dicts, JSON text, :class:`graph.events.Located` lines or
    validated events), in batches of ``batch_size`` (default: the Neo4j settings').

    ``position``: the input is an ordered source of that name (a file, see :meth:`file`); each
    record's position (a :class:`Located`'s line, else its index from 1) commits with its
    batch, and a re-run skips what committed without validating it. Without it, replays are
    dropped by the event ledger. The next batch is read and validated in a helper thread while
    the current one is written. Bad inputs never stop it: they are dead-lettered with their
    batch."""

    events: Iterable[Any]
    name: str
    position: str | None = None
    total: int | None = None  # records in the input, where known (progress, backlog)
    batch_size: int | None = None
    currency: str = DEFAULT_CURRENCY

    @classmethod
    def file(cls, path: Path, *, name: str = "", currency: str = DEFAULT_CURRENCY) -> EventsSource:
        """A ``.jsonl`` or ``.csv`` event file, positioned: a re-run resumes after its last
        committed line."""
        with path.open("rb") as handle:
            total = sum(1 for _ in handle)
        return cls(
            read_events(path),
            name or path.name,
            position=position_name(path),
            total=total,
            currency=currency,
        )

    def deliveries(self, graph: GraphClient) -> Iterator[Delivery | None]:
        size = self.batch_size or graph.settings.batch_size
        committed = -1 if self.position is None else committed_position(graph, self.position)
        numbered = (
            (raw.line if isinstance(raw, Located) else index, raw)
            for index, raw in enumerate(self.events, start=1)
        )
        records = (pair for pair in numbered if pair[0] > committed)

        def next_batch() -> Delivery | None:
            batch = list(islice(records, size))
            if not batch:
                return None
            valid, rejected = validate_batch([raw for _, raw in batch], self.name, self.currency)
            guard: Guard = (
                EventLedger()
                if self.position is None
                else SourceRange(self.position, 0, batch[0][0], batch[-1][0])
            )
            return Delivery(valid, rejected, guard)

        pool = ThreadPoolExecutor(max_workers=1)
        try:
            pending = pool.submit(next_batch)
            while (delivery := pending.result()) is not None:
                pending = pool.submit(next_batch)
                yield delivery
        finally:
            # On Ctrl-C do not wait for the next batch's validation: committed batches stay
            # committed, the one in flight rolls back, and a re-run skips what was applied.
            pool.shutdown(wait=False, cancel_futures=True)

    def committed(self, delivery: Delivery, report: IngestReport) -> None:
        return None  # the position committed with the data

    def conflict(self, delivery: Delivery, error: PositionConflict) -> list[Delivery]:
        raise error  # one reader per file: another one at the same time is a mistake to report

    def backlog(self, graph: GraphClient) -> list[Backlog]:
        # a position is the last committed line (numbered from 1), -1 before the first
        applied = 0 if self.position is None else max(committed_position(graph, self.position), 0)
        end = self.total if self.total is not None else applied
        return [Backlog(self.position or self.name, "0", end, min(applied, end))]

    def erase(self, user_ids: set[str]) -> int:
        return 0  # the input is the shop's own: it holds no copy of ours


def ingest_events(
    graph: GraphClient,
    raw_events: Iterable[Any],
    *,
    source: str,
    batch_size: int | None = None,
    on_batch: Callable[[IngestReport], None] | None = None,
    currency: str = DEFAULT_CURRENCY,
    position: str | None = None,
    online: OnlineUpdate | None = None,
) -> IngestReport:
    """Validate and ingest any iterable of raw events (see :class:`EventsSource`), without the
    deployment's erasure hook (``jobs.consume.consume`` adds it)."""
    events = EventsSource(
        raw_events, source, position=position, batch_size=batch_size, currency=currency
    )
    return apply_source(graph, events, online=online, on_batch=on_batch)
