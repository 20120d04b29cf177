"""Batched, idempotent ingestion of validated events.

One batch is one Neo4j transaction:

1. read the open change epoch (a plain read: writers never queue behind each other),
2. drop a replay, by one of three guards (see below),
3. apply the fresh events with one ``UNWIND $rows`` query per event type, stamping every touched
   user and item with ``changed_seq = epoch`` (what the incremental refresh selects on),
4. store the batch's rejected inputs in the dead-letter store,
5. for a positioned source, move its committed position to the batch's last offset.

Everything commits together, so a crash at any point leaves either the whole batch or nothing,
and a retry of the same batch converges. Deletes act as barriers: events before a delete are
applied before it and events after it after it, so "delete then re-create" in one batch works.

Guards, cheapest first:

* :class:`SourceRange` - a partitioned, ordered source (a Kafka partition, a file's lines): the
  partition's position is committed with the data; a batch at or below it is a replay.
* :class:`DeliveredBatch` - a consumer group's delivery (a Redis stream): one record per batch.
* :class:`EventLedger` - submissions with no position (tasks, data sets): one digest per event
  id, kept for the de-duplication window (``ingest.dedup_window_days``).

Whatever the guard, the fresh batch's event ids are then claimed in that ledger too: an event
*is* its ``event_id`` across sources, so the same event sent through two doors (two files, a
file and the stream) is applied once, its interactions and its order lines alike.

"Changed since the watermark" stays exact without serialising writers: an export closes the
epoch (:func:`close_epoch`), then waits for the ingest transactions that may still stamp the
closed one; the closed epoch is its watermark.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.errors import ProfilegraphError, ServiceUnavailable
from core.vocabulary import REL_TYPES, InteractionKind
from graph.client import GraphClient, Transaction
from graph.events import (
    DEFAULT_CURRENCY,
    Event,
    EventBase,
    FollowEvent,
    InteractionEvent,
    ItemDeleteEvent,
    ItemUpsertEvent,
    Rejection,
    UnfollowEvent,
    UserDeleteEvent,
    UserUpsertEvent,
    parse_event,
)
from graph.queries import Query, load_query

if TYPE_CHECKING:  # the online path loads the engine (torch) only when a run exists
    from graph.online import OnlineUpdate


@dataclass
class IngestReport:
    """What happened to each input: applied, skipped as a replay, or rejected (and why)."""

    received: int = 0
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    epoch: int = 0  # the change epoch the batch stamped (changed_seq)
    # users a user_delete removed: their copies outside Neo4j are erased next (jobs.erasure)
    erased: list[str] = field(default_factory=list)

    def merge(self, other: IngestReport) -> None:
        self.received += other.received
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.erased += other.erased
        self.rejected_by_reason.update(other.rejected_by_reason)
        self.epoch = max(self.epoch, other.epoch)

    def as_dict(self) -> dict[str, int]:
        """The counts (a task's JSON answer)."""
        return {
            "received": self.received,
            "applied": self.applied,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "erased": len(self.erased),
            "epoch": self.epoch,
        }


INTERACTIONS = "ingest_interactions"  # one query text per interaction type, see _query
ORDERS, FOLLOWS = "ingest_orders", "ingest_follows"


def _order_row(event: InteractionEvent) -> dict[str, Any]:
    """A timed purchase as an order line (keyed by its event, so a replay changes nothing)."""
    return {
        "user_id": event.user_id,
        "item_id": event.item_id,
        "order_id": event.order_id or f"event:{event.event_id}",
        "line_id": event.event_id,
        "ts": event.ts_ms,
        "amount": event.amount,
        "quantity": event.quantity or event.count,
    }


def _row(event: Event) -> tuple[str, dict[str, Any]]:
    """The query an event goes to, and its parameter row."""
    match event:
        case InteractionEvent(kind=InteractionKind.TAG):
            return "ingest_tags", {
                "user_id": event.user_id,
                "item_id": event.item_id,
                "category": event.category,
                "ts": event.ts_ms,
                "weight": event.weight,
                "count": event.count,
            }
        case InteractionEvent():
            return f"{INTERACTIONS}:{event.kind.rel_type}", {
                "user_id": event.user_id,
                "item_id": event.item_id,
                "ts": event.ts_ms,
                "weight": event.weight,
                "count": event.count,
                "replace": event.kind.replaces_weight,
            }
        case UnfollowEvent():
            return "ingest_unfollows", {
                "user_id": event.user_id,
                "target_user_id": event.target_user_id,
            }
        case FollowEvent():
            return FOLLOWS, {
                "user_id": event.user_id,
                "target_user_id": event.target_user_id,
                "ts": event.ts_ms,
            }
        case UserUpsertEvent():
            return "ingest_users", {
                "user_id": event.user_id,
                "name": event.name,
                "signup_ts": event.signup_ms,
                "country": event.country,
                "age_band": event.age_band,
                "gender": event.gender,
                "profiling_consent": event.profiling_consent,
                "attributes": None
                if event.attributes is None
                else json.dumps(event.attributes, sort_keys=True),
            }
        case ItemUpsertEvent():
            return "ingest_items", {
                "item_id": event.item_id,
                "name": event.name,
                "categories": event.categories,
                "price": event.price,
                "brand": event.brand,
            }
        case UserDeleteEvent():
            return "delete_users", {"user_id": event.user_id}
        case ItemDeleteEvent():
            return "delete_items", {"item_id": event.item_id}
    raise TypeError(f"unhandled event type {type(event).__name__}")


# Within a segment, upserts first so that interactions find their nodes' names; unfollows after
# follows. Order across segments (split at deletes) is the input order.
_ORDER = (
    "ingest_users",
    "ingest_items",
    *(f"{INTERACTIONS}:{rel}" for k, rel in REL_TYPES.items() if k is not InteractionKind.TAG),
    ORDERS,
    "ingest_tags",
    FOLLOWS,
    "ingest_unfollows",
)
_ALLOWED_TYPES = frozenset(REL_TYPES.values())


def _query(key: str) -> Query:
    """The query for a group key; ``name:REL_TYPE`` keys get their type filled in."""
    name, _, rel_type = key.partition(":")
    query = load_query(name)
    return query.with_rel_type(rel_type, _ALLOWED_TYPES) if rel_type else query


def _segments(events: list[Event]) -> Iterator[list[tuple[str, list[dict[str, Any]]]]]:
    """Split at deletes; within each run group rows by query in a fixed order.

    Follows and unfollows of the same pair inside one run collapse to the last one, so
    "unfollow, then follow again" ends followed whatever order the groups run in. A follow that
    a later unfollow cancels still creates its users (as it would in a batch of its own): the
    graph never depends on the batch size.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    social: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    first_follow: dict[tuple[str, str], dict[str, Any]] = {}

    def flush() -> list[tuple[str, list[dict[str, Any]]]]:
        for pair, (query, row) in social.items():
            if query == "ingest_unfollows" and pair in first_follow:
                # follow (creates both users), then unfollow: groups run follows first
                groups.setdefault(FOLLOWS, []).append(first_follow[pair])
            groups.setdefault(query, []).append(row)
        # Rows touching items go in item order (stable: one pair's actions keep their order), so
        # concurrent writers take item locks in the same order and deadlock less often.
        for q, rows in groups.items():
            if "item_id" in rows[0] and q != "ingest_items":
                rows.sort(key=lambda row: row["item_id"])
        out = [(q, groups[q]) for q in _ORDER if q in groups]
        groups.clear()
        social.clear()
        first_follow.clear()
        return out

    for event in events:
        query, row = _row(event)
        if query.startswith("delete_"):
            if groups or social:
                yield flush()
            yield [(query, [row])]
        elif query in (FOLLOWS, "ingest_unfollows"):
            pair = (row["user_id"], row["target_user_id"])
            if query == FOLLOWS:
                first_follow.setdefault(pair, row)
            social.pop(pair, None)
            social[pair] = (query, row)
        else:
            groups.setdefault(query, []).append(row)
            if (
                isinstance(event, InteractionEvent)
                and event.kind is InteractionKind.PURCHASE
                and event.ts is not None  # an occasion needs its time
            ):
                groups.setdefault(ORDERS, []).append(_order_row(event))
    if groups or social:
        yield flush()


def _tag_category_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """How often each (item, tag) pair was given in a batch: one IN_CATEGORY update per pair."""
    totals: Counter[tuple[str, str]] = Counter()
    for row in rows:
        totals[(row["item_id"], row["category"])] += row["count"]
    return [{"item_id": i, "category": c, "count": n} for (i, c), n in totals.items()]


def ledger_key(event_id: str) -> str:
    """What the ledger keeps of an event id: its SHA-256 (event ids can embed user ids)."""
    return hashlib.sha256(event_id.encode("utf-8")).hexdigest()


def _rejection_row(rejection: Rejection) -> dict[str, Any]:
    # the whole input's digest, not the clipped text: inputs that differ past the clip stay apart
    key = hashlib.sha1(f"{rejection.source}\0{rejection.digest}".encode()).hexdigest()
    return {"key": key, **rejection.model_dump()}


@dataclass(frozen=True)
class EventLedger:
    """Replays dropped by event id: the ledger keeps a digest of every id it applied."""


@dataclass(frozen=True)
class SourceRange:
    """The batch is positions ``first..last`` of one partition of an ordered source."""

    source: str
    partition: int
    first: int
    last: int


@dataclass(frozen=True)
class SourceRanges:
    """The batch is ranges of several partitions (a Kafka consumer's poll): one transaction
    instead of one per partition. All fresh: applied; all committed: a replay; a mix (a
    rebalance in flight) raises PositionConflict, and the caller applies the ranges one by one."""

    ranges: tuple[SourceRange, ...]


@dataclass(frozen=True)
class DeliveredBatch:
    """The batch is one delivery of a consumer group, named by ``key`` (a digest)."""

    source: str
    key: str


Guard = EventLedger | SourceRange | SourceRanges | DeliveredBatch


class PositionConflict(ProfilegraphError):
    """A batch overlaps what its partition already committed (another consumer got there
    first): nothing was applied; re-read from ``committed + 1``."""

    def __init__(self, guard: SourceRange, committed: int) -> None:
        super().__init__(
            f"{guard.source} partition {guard.partition}: batch {guard.first}..{guard.last} "
            f"overlaps the committed position {committed}; re-read from {committed + 1}"
        )
        self.committed = committed


def _ranges(guard: SourceRange | SourceRanges) -> tuple[SourceRange, ...]:
    """A positioned guard's ranges, in the order their positions are locked."""
    ranges = guard.ranges if isinstance(guard, SourceRanges) else (guard,)
    return tuple(sorted(ranges, key=lambda r: (r.source, r.partition)))


# the project's server has it (with applyOrders and applyFollows); a stock one does not, and
# the ingest_*.cypher queries do the same in Cypher
INGEST_PROCEDURE = "profilegraph.applyInteractions"


def _packed(key: str) -> bool:
    """Whether a group goes through a procedure (on a server that has them)."""
    return key.startswith(f"{INTERACTIONS}:") or key in (ORDERS, FOLLOWS)


def _ensure_nodes(tx: Transaction, groups: list[tuple[str, list[dict[str, Any]]]]) -> None:
    """Create the nodes the procedures' rows name (they only find them)."""
    users: set[str] = set()
    items: set[str] = set()
    orders: dict[str, dict[str, Any]] = {}
    for key, rows in groups:
        users.update(row["user_id"] for row in rows)
        if key == FOLLOWS:
            users.update(row["target_user_id"] for row in rows)
        else:
            items.update(row["item_id"] for row in rows)
        if key == ORDERS:
            for row in rows:
                orders.setdefault(
                    row["order_id"],
                    {"order_id": row["order_id"], "user_id": row["user_id"], "ts": row["ts"]},
                )
    tx.run(
        "ensure_ingest_nodes",
        users=sorted(users),
        items=sorted(items),
        orders=[orders[o] for o in sorted(orders)],
    )


def _apply_packed(
    tx: Transaction, groups: list[tuple[str, list[dict[str, Any]]]], seq: int
) -> None:
    """A segment's interactions, order lines and follows through the procedures, as columns:
    nodes first, then all interaction types in one call (item order, so concurrent writers
    lock items alike), then orders, then follows (the order of ``_ORDER``)."""
    _ensure_nodes(tx, groups)
    interactions = sorted(
        (
            (key.partition(":")[2], row)
            for key, rows in groups
            if key.startswith(f"{INTERACTIONS}:")
            for row in rows
        ),
        key=lambda pair: pair[1]["item_id"],
    )
    if interactions:
        if not {rel for rel, _ in interactions} <= _ALLOWED_TYPES:
            raise ValueError("a relationship type outside the interaction kinds")
        tx.run(
            "apply_interactions",
            types=[rel for rel, _ in interactions],
            users=[row["user_id"] for _, row in interactions],
            items=[row["item_id"] for _, row in interactions],
            ts=[row["ts"] for _, row in interactions],
            weights=[float(row["weight"]) for _, row in interactions],
            counts=[int(row["count"]) for _, row in interactions],
            replace=[bool(row["replace"]) for _, row in interactions],
            seq=seq,
        )
    for key, rows in groups:
        if key == ORDERS:
            tx.run(
                "apply_orders",
                users=[row["user_id"] for row in rows],
                items=[row["item_id"] for row in rows],
                orders=[row["order_id"] for row in rows],
                lines=[row["line_id"] for row in rows],
                ts=[row["ts"] for row in rows],
                amounts=[row["amount"] for row in rows],
                quantities=[int(row["quantity"]) for row in rows],
            )
        elif key == FOLLOWS:
            tx.run(
                "apply_follows",
                users=[row["user_id"] for row in rows],
                targets=[row["target_user_id"] for row in rows],
                ts=[row["ts"] for row in rows],
                seq=seq,
            )


def _fresh_events(
    tx: Transaction, guard: Guard, unique: dict[str, Event], epoch: int
) -> tuple[list[Event], bool]:
    """The events of the batch not applied before (under the guard's lock), and whether the
    whole batch is a replay (its rejections are recorded already).

    An event is its ``event_id``, whatever door it came through: a position or a delivery says
    cheaply that a batch is a replay of the same source, and the ledger says which events
    another source (another file, the stream, a task) applied already. So an event sent twice,
    through two doors, is applied once, its interactions and its order line alike."""
    match guard:
        case SourceRange() | SourceRanges():
            done: list[tuple[SourceRange, int]] = []
            ranges = _ranges(guard)
            for r in ranges:  # locked in one order, so two consumers never deadlock here
                row = tx.run("lock_source_position", source=r.source, partition=r.partition)
                committed = int(row[0]["offset"])
                if committed >= r.last:
                    done.append((r, committed))
                elif committed >= r.first:
                    raise PositionConflict(r, committed)  # overlaps: re-read after it
            if len(done) == len(ranges):
                return [], True
            if done:  # some ranges committed, some not (a rebalance in flight)
                raise PositionConflict(*done[0])
            return _unclaimed(tx, unique, epoch), False
        case DeliveredBatch():
            fresh = tx.run("claim_batch", key=guard.key, source=guard.source, seq=epoch)
            return (_unclaimed(tx, unique, epoch), False) if fresh[0]["fresh"] else ([], True)
        case EventLedger():
            return _unclaimed(tx, unique, epoch), False
    raise TypeError(f"unknown guard {guard!r}")


def _unclaimed(tx: Transaction, unique: dict[str, Event], epoch: int) -> list[Event]:
    """The events whose ids the ledger had not seen, now claimed in it."""
    keys = {ledger_key(event_id): event for event_id, event in unique.items()}
    if not keys:
        return []
    claimed = set(tx.run("claim_events", keys=list(keys), seq=epoch)[0]["fresh"])
    return [event for key, event in keys.items() if key in claimed]


INGEST_TRANSACTION = "ingest_batch"  # the metadata close_epoch finds ingest transactions by


def _review_texts(tx: Transaction, events: Sequence[Event]) -> None:
    """Keep the batch's review texts on their edges, and drop those of users who withdrew
    consent in it (both in the batch's transaction, whichever path wrote the interactions)."""
    texts = [
        {
            "user_id": e.user_id,
            "item_id": e.item_id,
            "text": e.text,
            "language": e.language,
            "ts": e.ts_ms if e.ts_ms is not None else int(time.time() * 1000),
        }
        for e in events
        if isinstance(e, InteractionEvent) and e.text is not None
    ]
    if texts:
        tx.run("ingest_review_texts", rows=texts)
    withdrawn = [
        e.user_id for e in events if isinstance(e, UserUpsertEvent) and e.profiling_consent is False
    ]
    if withdrawn:
        tx.run("forget_review_texts", users=withdrawn)


def apply_batch(
    client: GraphClient,
    events: Sequence[Event],
    rejections: Sequence[Rejection] = (),
    guard: Guard = EventLedger(),
    timings: dict[str, float] | None = None,
    online: OnlineUpdate | None = None,
) -> IngestReport:
    """Apply one batch in one transaction (see the module docstring); ``timings``: see
    :meth:`GraphClient.transaction`; ``online``: the online profile path, applied to the
    batch's new events in the same transaction (:mod:`graph.online`)."""
    unique: dict[str, Event] = {}
    for event in events:
        unique.setdefault(event.event_id, event)
    in_batch_duplicates = len(events) - len(unique)
    procedure = client.has_procedure(INGEST_PROCEDURE)

    def work(tx: Transaction) -> IngestReport:
        epoch = int(tx.run("read_ingest_epoch")[0]["epoch"])
        fresh, replay = _fresh_events(tx, guard, unique, epoch)
        positioned = isinstance(guard, SourceRange | SourceRanges)
        for segment in _segments(fresh):
            packed = [(key, rows) for key, rows in segment if procedure and _packed(key)]
            for key, rows in segment:
                if packed and _packed(key):
                    if packed[0][0] == key:  # at the first of them, in the order of _ORDER
                        _apply_packed(tx, packed, epoch)
                    continue
                tx.run(_query(key), rows=rows, seq=epoch)
                if key == "ingest_tags":
                    tx.run("ingest_tag_categories", rows=_tag_category_rows(rows))
        _review_texts(tx, fresh)
        if online is not None and fresh:
            online.apply(tx, fresh, epoch)
        kept = [] if replay else rejections  # a replayed batch's rejections are recorded already
        if kept:
            tx.run("record_rejections", rows=[_rejection_row(r) for r in kept], seq=epoch)
        if positioned and not replay:
            for r in _ranges(guard):
                tx.run(
                    "advance_source_position",
                    source=r.source,
                    partition=r.partition,
                    offset=r.last,
                    events=len(fresh) if r is guard else r.last - r.first + 1,
                )
        return IngestReport(
            received=len(events) + len(rejections),
            applied=len(fresh),
            duplicates=in_batch_duplicates + len(unique) - len(fresh),
            rejected=len(kept),
            rejected_by_reason=Counter(f"{r.field}: {r.reason}" for r in kept),
            epoch=epoch,
            erased=[e.user_id for e in fresh if isinstance(e, UserDeleteEvent)],
        )

    return client.transaction(work, name=INGEST_TRANSACTION, timings=timings)


def close_epoch(client: GraphClient, *, wait_s: float = 300.0) -> int:
    """Close the open change epoch and return it once no running ingest transaction can still
    stamp it: every user or item with ``changed_seq <= closed`` is then committed, so the
    closed epoch is an exact watermark. Transactions that start after the close read the next
    epoch; those that were running are waited for (``wait_s``, then ServiceUnavailable)."""

    def running_now() -> set[str]:
        return set(client.read("ingest_transactions", transaction=INGEST_TRANSACTION)[0]["ids"])

    closed = client.write_rows("close_ingest_epoch")
    running = running_now()
    deadline = time.monotonic() + wait_s
    while running:
        if time.monotonic() > deadline:
            raise ServiceUnavailable(
                f"{len(running)} ingest transaction(s) still running after {wait_s:.0f} s: "
                "the change epoch cannot be closed (see SHOW TRANSACTIONS)"
            )
        time.sleep(0.05)
        running &= running_now()
    return closed


def validate_batch(
    batch: list[Any], source: str, currency: str = DEFAULT_CURRENCY
) -> tuple[list[Event], list[Rejection]]:
    valid: list[Event] = []
    rejected: list[Rejection] = []
    for raw in batch:
        # an already validated event passes; anything else (a dict, JSON text, or a number or
        # null where an event belongs) is validated, and a bad one becomes a dead letter
        parsed = (
            raw
            if isinstance(raw, EventBase)
            else parse_event(raw, source=source, currency=currency)
        )
        if isinstance(parsed, Rejection):
            rejected.append(parsed)
        else:
            valid.append(parsed)
    return valid, rejected


def committed_position(client: GraphClient, source: str, partition: int = 0) -> int:
    """A source partition's committed position (-1 when nothing was applied from it)."""
    for row in client.read("source_positions", prefix=source):
        if row["source"] == source and row["partition"] == partition:
            return int(row["offset"])
    return -1
