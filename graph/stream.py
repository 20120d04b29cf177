"""Consume events from a Redis Stream with a consumer group; nothing is lost on a crash.

A message is acknowledged (and then deleted from the stream) only after the Neo4j transaction
holding its batch has committed. A consumer that dies between reading and acknowledging leaves
its batch pending; the next start of the same consumer re-reads its own pending messages first,
and any consumer claims the whole batch another one left pending for longer than
``claim_idle_ms``. A consumer holds at most one unacknowledged batch, so a redelivered batch
has the same message ids as the delivery it repeats: the batch commits a record keyed by them
(:class:`graph.ingest.DeliveredBatch`), and a redelivery of a committed batch changes nothing.
A message published twice is two events (de-duplicate at the producer, or submit through the
``ingest_batch`` task, whose event ledger drops repeated ids). Undecodable messages are
dead-lettered like any bad event.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import redis

from core.errors import ServiceUnavailable
from core.redis_keys import EVENT_STREAM
from graph.client import GraphClient
from graph.events import DEFAULT_CURRENCY, Rejection, make_rejection, mentions
from graph.ingest import DeliveredBatch, IngestReport, PositionConflict, validate_batch
from graph.source import Backlog, Delivery

T = TypeVar("T")
STREAM = EVENT_STREAM
GROUP = "profilegraph-ingest"
FIELD = b"event"
SCAN = 1_000  # stream messages per read when erasing


def publish(conn: redis.Redis, events: Iterable[dict[str, Any] | str], stream: str = STREAM) -> int:
    """Append raw events (dicts are sent as JSON) to the stream; returns how many."""
    n = 0
    with conn.pipeline(transaction=False) as pipe:
        for event in events:
            payload = event if isinstance(event, str) else json.dumps(event)
            pipe.xadd(stream, {FIELD: payload})
            n += 1
        pipe.execute()
    return n


def names_user(payload: bytes, ids: set[str]) -> bool:
    """Whether a raw message (JSON, or anything else) names one of ``ids``: as any string in
    it once decoded (``"zq\\u0076ictim"`` is ``zqvictim``), or as an identifier-shaped run of
    its text (quoted or not) - :func:`graph.events.mentions`."""
    return not ids.isdisjoint(mentions(payload))


def erase_stream(conn: redis.Redis, ids: set[str], stream: str = STREAM) -> int:
    """Delete the stream's messages that name these users; returns how many."""
    removed, start = 0, "-"
    while True:
        batch = conn.xrange(stream, min=start, max="+", count=SCAN)
        doomed = [
            message_id
            for message_id, fields in batch
            if any(names_user(value, ids) for value in fields.values())
        ]
        if doomed:
            removed += int(conn.xdel(stream, *doomed))
        if len(batch) < SCAN:
            return removed
        start = "(" + batch[-1][0].decode()


@dataclass
class RedisStreamSource:
    """A Redis stream read by a consumer group (:class:`graph.source.Source`); with
    ``until_empty`` its deliveries end once the stream has nothing new *and* no message is
    pending, so messages a dead consumer left pending are claimed at once instead of after
    ``claim_idle_ms``. Redis going away is waited out for ``reconnect_s`` (with backoff), then
    reported as unavailable."""

    conn: redis.Redis
    stream: str = STREAM
    group: str = GROUP
    consumer: str = f"{socket.gethostname()}-{os.getpid()}"
    batch_size: int = 5_000
    block_ms: int = 1_000
    claim_idle_ms: int = 60_000
    reconnect_s: float = 30.0  # how long Redis may be away before the consumer gives up
    currency: str = DEFAULT_CURRENCY  # the deployment's reporting currency (settings.value)
    until_empty: bool = False
    # Test seams: called with the message ids after reading / after the Neo4j commit.
    after_read: Callable[[list[bytes]], None] | None = None
    after_commit: Callable[[list[bytes]], None] | None = None

    @property
    def name(self) -> str:
        return f"stream:{self.stream}"

    def ensure_group(self) -> None:
        try:
            self.conn.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def deliveries(self, graph: GraphClient) -> Iterator[Delivery | None]:
        self._with_reconnect(self.ensure_group)
        idle = 0 if self.until_empty else self.claim_idle_ms
        while True:
            ids, messages = self._with_reconnect(lambda: self._read(idle))
            if not ids:
                if self.until_empty and self._with_reconnect(self.pending) == 0:
                    return
                yield None
                continue
            if self.after_read is not None:
                self.after_read(ids)
            yield self._delivery(ids, messages)

    def committed(self, delivery: Delivery, report: IngestReport) -> None:
        """Acknowledge (and delete) the delivery's messages, after the Neo4j commit."""
        ids: list[bytes] = delivery.handle
        if self.after_commit is not None:
            self.after_commit(ids)

        def acknowledge() -> None:
            with self.conn.pipeline(transaction=True) as pipe:
                pipe.xack(self.stream, self.group, *ids)
                pipe.xdel(self.stream, *ids)
                pipe.execute()

        self._with_reconnect(acknowledge)

    def conflict(self, delivery: Delivery, error: PositionConflict) -> list[Delivery]:
        raise error  # a delivery is not positioned: it cannot conflict

    def backlog(self, graph: GraphClient) -> list[Backlog]:
        """Per group: the entries added, those read, and those read and not acknowledged."""
        if not self.conn.exists(self.stream):
            return []
        added = int(self.conn.xinfo_stream(self.stream)["entries-added"])
        out = []
        for group in self.conn.xinfo_groups(self.stream):
            name = group["name"].decode() if isinstance(group["name"], bytes) else group["name"]
            read = int(group.get("entries-read") or 0)
            lag = group.get("lag")
            applied = added - int(lag) if lag is not None else read
            out.append(Backlog(self.name, name, added, applied, int(group["pending"]), read))
        return out

    def erase(self, user_ids: set[str]) -> int:
        return erase_stream(self.conn, user_ids, self.stream)

    def pending(self) -> int:
        """Messages read by some consumer of the group and not yet acknowledged."""
        return int(self.conn.xpending(self.stream, self.group)["pending"])

    def _delivery(self, ids: list[bytes], messages: list[tuple[bytes, Any]]) -> Delivery:
        raws: list[Any] = []
        undecodable: list[Rejection] = []
        for message_id, fields in messages:
            if FIELD in fields:
                raws.append(fields[FIELD])
            else:
                undecodable.append(
                    make_rejection(
                        repr(fields),
                        self.name,
                        None,
                        reason="message has no 'event' field",
                        field="(message)",
                        value=message_id.decode(),
                    )
                )
        valid, rejected = validate_batch(raws, self.name, self.currency)
        guard = DeliveredBatch(self.name, self._batch_key(ids))
        return Delivery(valid, rejected + undecodable, guard, handle=ids)

    def _read(self, claim_idle_ms: int) -> tuple[list[bytes], list[tuple[bytes, Any]]]:
        """The next batch as ``(ids delivered, messages still in the stream)``: this consumer's
        own pending batch first, then a batch another consumer left pending for
        ``claim_idle_ms`` (claimed whole), then new messages. Ids come from the pending list,
        so a batch keeps its ids even if erasure deleted some of its messages meanwhile."""
        own = self.conn.xpending_range(
            self.stream, self.group, "-", "+", count=self.batch_size * 4, consumername=self.consumer
        )
        if own:
            ids = [row["message_id"] for row in own]
            return ids, self._claim(ids, 0)
        for holder in self.conn.xpending(self.stream, self.group).get("consumers") or []:
            name = holder["name"]
            name = name.decode() if isinstance(name, bytes) else name
            if name == self.consumer:
                continue
            rows = self.conn.xpending_range(
                self.stream, self.group, "-", "+", count=self.batch_size * 4, consumername=name
            )
            if rows and min(r["time_since_delivered"] for r in rows) >= claim_idle_ms:
                ids = [row["message_id"] for row in rows]
                return ids, self._claim(ids, claim_idle_ms)
        reply = self.conn.xreadgroup(
            self.group,
            self.consumer,
            {self.stream: ">"},
            count=self.batch_size,
            block=self.block_ms,
        )
        messages = reply[0][1] if reply else []
        return [message_id for message_id, _ in messages], messages

    def _claim(self, ids: list[bytes], idle_ms: int) -> list[tuple[bytes, Any]]:
        """Take over pending messages (deleted ones are dropped from the pending list by Redis
        and not returned)."""
        claimed = self.conn.xclaim(self.stream, self.group, self.consumer, idle_ms, ids)
        return [(message_id, fields) for message_id, fields in claimed if fields is not None]

    def _batch_key(self, ids: list[bytes]) -> str:
        text = b"\0".join([self.stream.encode(), ids[0], ids[-1], str(len(ids)).encode()])
        return hashlib.sha256(text).hexdigest()

    def _with_reconnect(self, call: Callable[[], T]) -> T:
        deadline = time.monotonic() + self.reconnect_s
        pause = 0.2
        while True:
            try:
                return call()
            except (redis.ConnectionError, redis.TimeoutError) as error:
                if time.monotonic() + pause > deadline:
                    raise ServiceUnavailable(
                        f"Redis stream {self.stream!r} unreachable for {self.reconnect_s:.0f} s: "
                        f"{error} (is Redis running? profilegraph services up)"
                    ) from error
                time.sleep(pause)
                pause = min(pause * 2, 5.0)
