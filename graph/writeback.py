"""Write computed profiles back to ``:User`` nodes, with provenance on ``:ProfileRun``.

Consistency (what an analyst can rely on):

- **Per user, all or nothing.** A user's ``profile_*`` fields (and ``profile_embedding``) are set
  by one statement in one transaction, every field every time (null removes one). Transactions
  are atomic, so a reader sees a user either on the old complete profile or on the new one, and
  a writer killed half-way leaves each user on one of the two. ``profile_run_id`` names the run.
- **Never backwards.** Each profile carries the ingest watermark its snapshot was taken at; a
  write is skipped for users whose stored profile is newer, so a late or redelivered writer of
  an older run cannot roll them back.
- **Writes cost what changed.** Each written user keeps ``profile_digests``: a digest of their
  properties and of each edge list as written (floats at ``SAME_DIGITS`` significant digits).
  Before a batch is written the writer reads the stored digests and embeddings of its users
  (``read_profile_digests.cypher``) and sends only what changed: a user whose properties, lists
  and embedding (cosine distance at most ``EMBEDDING_TOLERANCE``) are what Neo4j holds is not
  written at all and keeps its ``profile_run_id`` (the run that wrote those values); a user whose
  recommendations alone changed has only those edges replaced. The online path clears the
  digests of a user it moves, so their next write is complete.
- **Re-running converges.** Writing the same run again writes nothing; a write killed half-way
  is finished by the next one (the users already written compare equal).
- **Interests as edges.** Each top interest is also a ``(:User)-[:INTERESTED_IN {rank, weight,
  items, friends, adoptions, run_id}]->(:Category)`` edge carrying its explanation, written in
  the same statement as the properties (an edge to a category still named is updated in place,
  the others replaced), so "who is into X" starts from the category's index instead of scanning
  users, and the edges never disagree with ``profile_interests``.
- **One procedure call per batch, columns all the way.** A batch is a :class:`CandidateBlock`
  (the refresh slices its result's columns into one: ``jobs.result_profiles``); the changed
  users' :class:`ProfileColumns` go to ``profilegraph.writeProfiles`` as packed columns
  (:meth:`ProfileColumns.packed`). Rows are made only for servers without the plugin
  (``write_profiles.cypher``, the same effect; the tests run both and compare the graphs).
- **Recommendations as edges.** Each slot of the user's list is a ``(:User)-[:RECOMMENDED
  {rank, score, kind, reason, category, run_id}]->(:Item)`` edge, replaced in the same statement
  (``kind`` is ``exploit`` or ``explore``); ``profile_recommendations`` lists the item ids in
  rank order, so the edges and the property never disagree. Likewise each of
  ``profile_next_categories`` is a ``(:User)-[:NEXT_CATEGORY {rank, probability, run_id}]->
  (:Category)`` edge, so "who will act in X next" starts from the category's index.
- **A short trail.** ``profile_trail`` keeps the user's top interests under each of the last
  ``TRAIL_RUNS`` runs that wrote their profile (newest first; each entry is the run id then the
  interests, joined by the unit separator U+001F), so interest drift between two runs can be
  read without keeping whole old profiles. Re-writing a run replaces its entry.
  A field declared with a trail (``core.profile_contract.FIELD_TRAILS``: the lifecycle stage as
  ``profile_stage_trail``) keeps its value the same way (run id, then the value), so "who
  moved from active to at risk between these runs" is one query
  (``cypher/lifecycle_moves.cypher``).
- **Consent.** A user who may not be profiled is never written, and :func:`clear_unconsented`
  (each refresh's write step) removes whatever profile such a user still has.
- **Run status.** ``:ProfileRun.status`` is ``running`` until every batch has committed, then
  ``complete``; analysts who need one population-wide run filter on ``profile_run_id``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.profile_contract import (
    FIELD_EDGES,
    FIELD_TRAILS,
    FIELDS,
    FIELDS_BY_NAME,
    ONLINE_FIELDS,
    FieldEdges,
    property_names,
)
from graph.client import GraphClient
from graph.schema import ensure_schema

TRAIL_RUNS = 10
TRAIL_SEP = "\u001f"
# What "unchanged" means: floats equal to this many significant digits (the CLI shows three;
# a refit model moves every probability in the last digits), and an embedding within this
# cosine distance of the stored one (look-alikes rank by cosine).
SAME_DIGITS = 4
SAME_FORMAT = f".{SAME_DIGITS}g"  # a float as the digests read it
EMBEDDING_TOLERANCE = 1e-3
# The parts of a profile written (or left) as a whole; ``profile_digests`` holds one per part
# (then the embedding's, below). Where the online path
# moved a user after a run's snapshot, both writers blank the first digest and those of the
# field edges that move online (they keep their online values): props first.
PARTS = ("props", "interests", "recommendations", *(e.field for e in FIELD_EDGES))
# ``profile_digests`` holds one digest per part, then the stored embedding's: where it equals the
# new embedding's, the embedding is the same to SAME_DIGITS and is not read back; where not,
# the stored vector is read and compared to EMBEDDING_TOLERANCE
DIGESTS = (*PARTS, "embedding")
EMBEDDING = len(PARTS)  # the embedding's digest, after the parts'

PROVENANCE = ("profile_run_id", "profile_watermark", "profile_updated_at")


@dataclass(frozen=True)
class Interest:
    """One top interest and the evidence behind it (written as an INTERESTED_IN edge)."""

    category: str
    weight: float
    items: Sequence[str] = ()  # the user's interactions that contribute most
    friends: Sequence[str] = ()  # the followees whose interest contributes most
    adoptions: int = 0  # follower adoptions of this category's items the user triggered


@dataclass(frozen=True)
class Recommendation:
    """One slot of a user's list (written as a RECOMMENDED edge)."""

    item_id: str
    rank: int
    score: float
    kind: str  # "exploit" or "explore"
    reason: str
    category: str | None = None


@dataclass(frozen=True)
class ProfileRow:
    """One user's complete profile as written to Neo4j: ``fields`` holds a value (or None) for
    each field of ``core.profile_contract.FIELDS``, by name; the writer adds the structure."""

    user_id: str
    embedding: Sequence[float]
    fields: dict[str, Any]
    interests: Sequence[Interest] = ()  # best first
    recommendations: Sequence[Recommendation] = ()  # rank order


@dataclass
class WriteReport:
    written: int = 0  # users written (some part of their profile changed)
    unchanged: int = 0  # users whose stored profile is already this run's (nothing written)
    skipped_newer: int = 0  # users left as they are: newer stored profile, no consent, gone
    parts: dict[str, int] = field(default_factory=dict)  # users written per part
    batches: int = 0
    seconds: float = 0.0

    @property
    def considered(self) -> int:
        return self.written + self.unchanged + self.skipped_newer


def _rounded(values: Iterable[Any]) -> list[Any]:
    """Values as the digest reads them: floats at ``SAME_DIGITS`` significant digits, lists
    and dicts (their values, in their fixed order) likewise, everything else as it is."""
    out: list[Any] = []
    for value in values:
        kind = type(value)
        if kind is float:
            out.append(format(value, SAME_FORMAT))
        elif kind is list or kind is tuple:
            out.append(_rounded(value))
        elif kind is dict:
            out.append(_rounded(value.values()))
        else:
            out.append(value)
    return out


def digest(values: Iterable[Any]) -> str:
    """A short, stable digest of some values (floats rounded: see ``SAME_DIGITS``)."""
    return hashlib.blake2b(repr(_rounded(values)).encode(), digest_size=8).hexdigest()


def _embeddings_changed(
    new: Sequence[Sequence[float]], stored: Sequence[Sequence[float] | None]
) -> list[bool]:
    """Per user: is the new embedding further than ``EMBEDDING_TOLERANCE`` (cosine distance)
    from the stored one, or is there none to compare with?"""
    if not new:
        return []
    a = np.asarray(new, dtype=np.float64)
    have = [s is not None and len(s) == a.shape[1] for s in stored]
    b = np.zeros_like(a)
    rows = [k for k, ok in enumerate(have) if ok]
    if rows:
        b[rows] = np.asarray([stored[k] for k in rows], dtype=np.float64)
    dot = (a * b).sum(1)
    norms = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    same_zero = (norms == 0) & np.all(a == b, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        near = 1.0 - dot / norms <= EMBEDDING_TOLERANCE
    return [not (ok and (z or n)) for ok, z, n in zip(have, same_zero, near, strict=True)]


def stored_digests(client: GraphClient, users: list[str]) -> dict[str, list[str]]:
    """Per user in the graph: the digests Neo4j holds (an empty list where the user has no
    profile)."""
    (found,) = client.read("read_profile_digests", users=users)
    return dict(zip(found["users"], found["digests"], strict=True))


def stored_embeddings(client: GraphClient, users: list[str]) -> dict[str, list[float]]:
    """Per user with a stored embedding: the vector."""
    if not users:
        return {}
    (found,) = client.read("read_profile_embeddings", users=users)
    return dict(zip(found["users"], found["embeddings"], strict=True))


def embeddings_changed(
    client: GraphClient,
    users: Sequence[str],
    digests: Sequence[Sequence[str]],
    embeddings: np.ndarray,
    held: dict[str, list[str]],
) -> list[bool]:
    """Per user: does their new embedding differ from the stored one? The same digest: no. A
    user with a profile and another digest: their stored vector is read and compared to
    ``EMBEDDING_TOLERANCE``. No profile: yes."""
    stored = [held.get(u) or [] for u in users]
    same = [
        len(s) > EMBEDDING and s[EMBEDDING] == d[EMBEDDING]
        for d, s in zip(digests, stored, strict=True)
    ]
    ask = [k for k, (s, eq) in enumerate(zip(stored, same, strict=True)) if s and not eq]
    vectors = stored_embeddings(client, [users[k] for k in ask])
    moved = iter(
        _embeddings_changed([embeddings[k] for k in ask], [vectors.get(users[k]) for k in ask])
    )
    return [not eq and (next(moved) if s else True) for s, eq in zip(stored, same, strict=True)]


def changed_parts(
    digests: Sequence[str], stored: Sequence[str] | None, embedding_changed: bool
) -> dict[str, bool]:
    """Which parts of a profile differ from what Neo4j holds for the user (``stored``: their
    digests, :func:`stored_digests`; None when the user is not there)."""
    held = list(stored or [])[: len(PARTS)]
    held += [None] * (len(PARTS) - len(held))
    mine = digests[: len(PARTS)]
    parts = {p: new != old for p, new, old in zip(PARTS, mine, held, strict=True)}
    parts["embedding"] = embedding_changed
    return parts


# The columns of the two explained edge lists, as both writers name them
INTEREST_COLUMNS = ("name", "rank", "weight", "items", "friends", "adoptions")
RECOMMENDATION_COLUMNS = ("item_id", "rank", "score", "kind", "reason", "category")


@dataclass(frozen=True)
class EdgeTable:
    """One edge list of a block of users, as columns: entry ``k`` belongs to the user at block
    index ``user[k]`` (ascending; a user's entries in rank order), ``columns`` holds the
    entries' values by the writers' names."""

    user: list[int]
    columns: dict[str, list[Any]]

    @classmethod
    def of(cls, names: Sequence[str], lists: Iterable[Iterable[dict[str, Any]]]) -> EdgeTable:
        """The table of each user's list of entries (dicts with ``names``)."""
        user: list[int] = []
        columns: dict[str, list[Any]] = {name: [] for name in names}
        for u, entries in enumerate(lists):
            for entry in entries:
                user.append(u)
                for name in names:
                    columns[name].append(entry[name])
        return cls(user, columns)

    def take(self, users: Sequence[int]) -> EdgeTable:
        """The entries of some users (block indices, ascending), indexed by their position."""
        position = {u: k for k, u in enumerate(users)}
        rows = [k for k, u in enumerate(self.user) if u in position]
        return EdgeTable(
            [position[self.user[k]] for k in rows],
            {name: [values[k] for k in rows] for name, values in self.columns.items()},
        )

    def per_user(self, users: int, column: str) -> list[list[Any]]:
        """Each user's values of one column, in rank order."""
        out: list[list[Any]] = [[] for _ in range(users)]
        for u, value in zip(self.user, self.columns[column], strict=True):
            out[u].append(value)
        return out

    def of_users(self, keep: Sequence[bool]) -> dict[str, list[Any]]:
        """The entries of the users ``keep`` marks, as the procedure's table: the block index
        of each entry's user, then the columns."""
        rows = [k for k, u in enumerate(self.user) if keep[u]]
        table: dict[str, list[Any]] = {"user": [self.user[k] for k in rows]}
        for name, values in self.columns.items():
            table[name] = [values[k] for k in rows]
        return table


@dataclass(frozen=True)
class ProfileColumns:
    """A block of complete profiles as columns, what the procedure takes: every contract field
    by name (a value per user, as Neo4j stores it: the refresh's are cleaned by
    ``ProfileField.to_value``), the embeddings ([users, dim]), and the explained edge lists
    (the interests best first, the recommendations in rank order). The refresh slices its
    result's columns into one; rows (:meth:`rows`) are made only for the Cypher writer."""

    user_ids: list[str]
    fields: dict[str, list[Any]]
    embeddings: np.ndarray
    interests: EdgeTable  # INTEREST_COLUMNS
    recommendations: EdgeTable  # RECOMMENDATION_COLUMNS

    def __post_init__(self) -> None:
        _in_contract(self.fields)

    def take(self, users: Sequence[int]) -> ProfileColumns:
        """The profiles of some users (block indices, ascending), in that order."""
        return ProfileColumns(
            [self.user_ids[u] for u in users],
            {name: [values[u] for u in users] for name, values in self.fields.items()},
            self.embeddings[list(users)],
            self.interests.take(users),
            self.recommendations.take(users),
        )

    @classmethod
    def of_rows(cls, profiles: Sequence[ProfileRow]) -> ProfileColumns:
        for p in profiles:
            _in_contract(p.fields)
        return cls(
            [p.user_id for p in profiles],
            {f.name: [p.fields.get(f.name) for p in profiles] for f in FIELDS},
            np.asarray([list(p.embedding) for p in profiles], dtype=np.float64).reshape(
                len(profiles), -1
            ),
            EdgeTable.of(INTEREST_COLUMNS, (interest_entries(p) for p in profiles)),
            EdgeTable.of(RECOMMENDATION_COLUMNS, (recommendation_entries(p) for p in profiles)),
        )

    def rows(self) -> list[ProfileRow]:
        """The profiles as rows (the Cypher writer's statement rows are made from these)."""
        n = len(self.user_ids)
        interests = [self.interests.per_user(n, c) for c in INTEREST_COLUMNS]
        recommendations = [self.recommendations.per_user(n, c) for c in RECOMMENDATION_COLUMNS]
        return [
            ProfileRow(
                user,
                self.embeddings[u].tolist(),
                {name: values[u] for name, values in self.fields.items()},
                [
                    Interest(name, weight, items, friends, adoptions)
                    for name, _, weight, items, friends, adoptions in zip(
                        *(column[u] for column in interests), strict=True
                    )
                ],
                [
                    Recommendation(*slot)
                    for slot in zip(*(column[u] for column in recommendations), strict=True)
                ],
            )
            for u, user in enumerate(self.user_ids)
        ]

    def packed(
        self,
        run_id: str,
        watermark: int,
        now: int,
        digests: Sequence[Sequence[str]],
        write: Sequence[dict[str, bool]],
    ) -> dict[str, Any]:
        """The profiles as the batch ``profilegraph.writeProfiles`` takes (the same effect as
        :func:`statement_row`'s rows in ``write_profiles.cypher``): one list per property, the
        embeddings as one flat list, which parts to write per user, each edge table (of the
        users whose list is written) with the index of its user."""
        n = len(self.user_ids)
        names = self.interests.per_user(n, "name")
        props: dict[str, list[Any]] = {f.property: self.fields[f.name] for f in FIELDS}
        props.update(
            profile_run_id=[run_id] * n,
            profile_watermark=[watermark] * n,
            profile_updated_at=[now] * n,
            profile_interests=names,
            profile_interest_weights=self.interests.per_user(n, "weight"),
            profile_recommendations=self.recommendations.per_user(n, "item_id"),
        )
        flags = {part: [w[part] for w in write] for part in DIGESTS}
        batch: dict[str, Any] = {
            "users": list(self.user_ids),
            "watermark": watermark,
            "props": props,
            "embeddings": self.embeddings.ravel().tolist(),
            "dim": self.embeddings.shape[1],
            "trails": [TRAIL_SEP.join([run_id, *mine]) for mine in names],
            "field_trails": [
                {
                    "property": t.property,
                    "entries": [trail_entry(run_id, v) for v in self.fields[t.field]],
                }
                for t in FIELD_TRAILS
            ],
            "trail_key": run_id + TRAIL_SEP,
            "online_fields": sorted(_ONLINE_PROPERTIES),
            "provenance": list(PROVENANCE),
            "digests": [list(d) for d in digests],
            "write": flags,
            "parts": list(PARTS),
            "field_edges": _FIELD_EDGES,
            "interests": self.interests.of_users(flags["interests"]),
            "recommendations": self.recommendations.of_users(flags["recommendations"]),
        }
        for edges in FIELD_EDGES:
            entries = EdgeTable.of(
                (edges.key, "rank", edges.value_property),
                (
                    field_edge_entries(edges, {edges.field: mine, edges.value_field: values})
                    for mine, values in zip(
                        self.fields[edges.field], self.fields[edges.value_field], strict=True
                    )
                ),
            )
            batch[edges.field] = entries.of_users(flags[edges.field])
        return batch


@dataclass(frozen=True)
class CandidateBlock:
    """Profiles the writer may write, a batch of users: what is compared with Neo4j (each
    user's part digests, one per ``PARTS`` then the embedding's, and the embeddings [users,
    dim]) and how to make the profiles of some of them (block indices, ascending) as columns,
    which is done only for the users whose profile changed."""

    user_ids: list[str]
    digests: list[Sequence[str]]
    embeddings: np.ndarray
    make: Callable[[list[int]], ProfileColumns]

    @classmethod
    def of_rows(cls, profiles: Sequence[ProfileRow]) -> CandidateBlock:
        """Rows as a block, their digests made from their statement rows."""
        columns = ProfileColumns.of_rows(profiles)
        digests = [statement_row("", 0, 0, p)["digests"] for p in profiles]

        def make(indices: list[int]) -> ProfileColumns:
            return columns.take(indices)

        return cls(columns.user_ids, digests, columns.embeddings, make)


def statement_row(
    run_id: str,
    watermark: int,
    now: int,
    profile: ProfileRow,
    digests: Sequence[str] | None = None,
) -> dict[str, Any]:
    """One profile as one row of ``$rows`` in write_profiles.cypher (the bench times parts);
    ``digests`` as the refresh computed them (``jobs.write_digests``), else from the row."""
    _in_contract(profile.fields)
    # Every field every time (a missing one as null, which removes it): no field outlives its run
    props: dict[str, Any] = {f.property: profile.fields.get(f.name) for f in FIELDS}
    names = [i.category for i in profile.interests]
    props.update(
        profile_run_id=run_id,
        profile_watermark=watermark,
        profile_updated_at=now,
        profile_interests=names,
        profile_interest_weights=[float(i.weight) for i in profile.interests],
        profile_recommendations=[r.item_id for r in profile.recommendations],
    )
    row = {
        "user_id": profile.user_id,
        "watermark": watermark,
        "props": props,
        "batch_props": {k: v for k, v in props.items() if k not in _ONLINE_PROPERTIES},
        "embedding": [float(x) for x in profile.embedding],
        "interests": interest_entries(profile),
        "recommendations": recommendation_entries(profile),
        **{e.field: field_edge_entries(e, profile.fields) for e in FIELD_EDGES},
        "trail_key": run_id + TRAIL_SEP,
        "trail": TRAIL_SEP.join([run_id, *names]),
        "field_trails": [
            {"property": t.property, "entry": trail_entry(run_id, profile.fields.get(t.field))}
            for t in FIELD_TRAILS
        ],
    }
    row["provenance"] = {k: props[k] for k in PROVENANCE}
    if digests is None:
        values = [v for k, v in props.items() if k not in PROVENANCE]  # the contract's order
        parts = [digest(values), *(digest(row[part]) for part in PARTS[1:])]
        digests = [*parts, digest(row["embedding"])]
    row["digests"] = list(digests)
    # where the online path moved the user after this run's snapshot: the properties and the
    # online field edges are not all this run's, and compare as changed next time
    row["online_digests"] = [
        "" if part == "props" or part in _ONLINE_EDGE_PARTS else d
        for part, d in zip(DIGESTS, digests, strict=True)
    ]
    row["write"] = dict.fromkeys((*PARTS, "embedding"), True)  # until compared with Neo4j
    return row


def trail_entry(run_id: str, value: Any) -> str:
    """A field trail's entry for one run (``FIELD_TRAILS``): the run id, then the value."""
    return TRAIL_SEP.join([run_id, "" if value is None else str(value)])


def interest_entries(profile: ProfileRow) -> list[dict[str, Any]]:
    """A profile's interests as the writers' INTERESTED_IN entries (``INTEREST_COLUMNS``)."""
    return [
        {
            "name": i.category,
            "rank": rank,
            "weight": float(i.weight),
            "items": list(i.items),
            "friends": list(i.friends),
            "adoptions": int(i.adoptions),
        }
        for rank, i in enumerate(profile.interests, start=1)
    ]


def recommendation_entries(profile: ProfileRow) -> list[dict[str, Any]]:
    """A profile's list as the writers' RECOMMENDED entries (``RECOMMENDATION_COLUMNS``)."""
    return [
        {
            "item_id": r.item_id,
            "rank": int(r.rank),
            "score": float(r.score),
            "kind": r.kind,
            "reason": r.reason,
            "category": r.category,
        }
        for r in profile.recommendations
    ]


def _in_contract(fields: dict[str, Any]) -> None:
    unknown = set(fields) - set(FIELDS_BY_NAME)
    if unknown:
        settable = sorted(FIELDS_BY_NAME)
        raise ValueError(
            f"profile fields {sorted(unknown)} are not in the contract (settable: {settable})"
        )


def field_edge_entries(edges: FieldEdges, fields: dict[str, Any]) -> list[dict[str, Any]]:
    """The edges a list field implies for one profile (``fields``: by name), as the writers'
    entries: the target's key, the rank (from 1) and the value."""
    return [
        {edges.key: name, "rank": rank, edges.value_property: float(value)}
        for rank, (name, value) in enumerate(
            zip(fields.get(edges.field) or [], fields.get(edges.value_field) or [], strict=False),
            start=1,
        )
    ]


WRITE_PROCEDURE = "profilegraph.writeProfiles"
# set by the online path between refreshes: a run older than its update leaves them be
_ONLINE_PROPERTIES = frozenset(FIELDS_BY_NAME[name].property for name in ONLINE_FIELDS)
_ONLINE_EDGE_PARTS = frozenset(e.field for e in FIELD_EDGES if e.online)
_FIELD_EDGES = [  # as the procedure reads the declarations
    {
        "part": e.field,
        "type": e.rel_type,
        "label": e.label,
        "key": e.key,
        "properties": ["rank", e.value_property],
        "online": e.online,
    }
    for e in FIELD_EDGES
]


def _blocks(profiles: Iterable[ProfileRow | CandidateBlock], size: int) -> Iterator[CandidateBlock]:
    """Rows grouped into blocks of ``size``; blocks as they come."""
    rows: list[ProfileRow] = []
    for profile in profiles:
        if isinstance(profile, CandidateBlock):
            if rows:
                yield CandidateBlock.of_rows(rows)
                rows = []
            yield profile
            continue
        rows.append(profile)
        if len(rows) == size:
            yield CandidateBlock.of_rows(rows)
            rows = []
    if rows:
        yield CandidateBlock.of_rows(rows)


def write_profiles(
    client: GraphClient,
    run_id: str,
    watermark: int,
    profiles: Iterable[ProfileRow | CandidateBlock],
    *,
    batch_size: int = 2_000,
    workers: int = 2,
    after_batch: Callable[[int], None] | None = None,
    consent_default: bool = True,
) -> WriteReport:
    """Write profiles in parallel batches (disjoint users, so no lock conflicts).

    2,000 per batch and two writers measured best on the 2-core machine (`python -m
    bench.graph_io --sizes 100000 --batch-grid`: a refresh at 3.0k profiles/s against 2.1k with
    5,000 per batch, 2.4k with 500, 2.5k with one writer): the client builds the next batch
    while the server commits one. Each batch is first compared with what Neo4j holds and only
    the changed parts of changed users are sent (the module's "Writes cost what changed").
    """
    ensure_schema(client)
    started = time.perf_counter()
    now = int(time.time() * 1000)
    report = WriteReport()

    procedure = client.has_procedure(WRITE_PROCEDURE)

    def write(block: CandidateBlock) -> tuple[int, int, int, dict[str, int]]:
        users = block.user_ids
        held = stored_digests(client, users)
        moved = embeddings_changed(client, users, block.digests, block.embeddings, held)
        changed: list[int] = []
        digests: list[list[str]] = []
        writes: list[dict[str, bool]] = []
        for k, (user, mine, embedding_changed) in enumerate(
            zip(users, block.digests, moved, strict=True)
        ):
            stored = held.get(user)
            write = changed_parts(mine, stored, embedding_changed)
            if any(write.values()):
                mine = list(mine)
                if not embedding_changed:  # the stored vector stays, and so does its digest
                    kept = stored or []
                    mine[EMBEDDING] = kept[EMBEDDING] if len(kept) > EMBEDDING else ""
                changed.append(k)
                digests.append(mine)
                writes.append(write)
        parts = {part: sum(w[part] for w in writes) for part in DIGESTS}
        written = 0
        common = {"run_id": run_id, "trail_runs": TRAIL_RUNS, "consent_default": consent_default}
        if changed:
            profiles = block.make(changed)
            if procedure:
                batch = profiles.packed(run_id, watermark, now, digests, writes)
                written = client.write_rows("write_profiles_packed", batch=batch, **common)
            else:
                rows = [
                    statement_row(run_id, watermark, now, profile, mine) | {"write": write}
                    for profile, mine, write in zip(profiles.rows(), digests, writes, strict=True)
                ]
                written = client.write_rows("write_profiles", rows=rows, **common)
        unchanged = len(users) - len(changed)
        return written, unchanged, len(changed) - written, parts

    def done(future: Future[tuple[int, int, int, dict[str, int]]]) -> None:
        written, unchanged, skipped, parts = future.result()
        report.written += written
        report.unchanged += unchanged
        report.skipped_newer += skipped
        for part, users in parts.items():
            report.parts[part] = report.parts.get(part, 0) + users
        report.batches += 1
        if after_batch is not None:
            after_batch(report.batches)

    # at most one batch waiting per writer: the rows are made as the writers take them
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[tuple[int, int, int, dict[str, int]]]] = deque()
        for block in _blocks(profiles, batch_size):
            pending.append(pool.submit(write, block))
            if len(pending) > 2 * workers:
                done(pending.popleft())
        while pending:
            done(pending.popleft())
    report.seconds = time.perf_counter() - started
    return report


def clear_unconsented(client: GraphClient, *, consent_default: bool, batch: int = 5_000) -> int:
    """Remove every profile of a user who may not be profiled (consent withdrawn, or never
    given where the default is no): properties, interest, recommendation and next-category
    edges, and the trails. Returns how many profiles were removed."""
    nulls = dict.fromkeys(sorted(property_names()))
    cleared = 0
    while True:
        done = client.write_rows(
            "clear_unconsented_profiles", consent_default=consent_default, nulls=nulls, limit=batch
        )
        cleared += done
        if done < batch:
            return cleared


def start_run(
    client: GraphClient,
    run_id: str,
    *,
    kind: str,
    model: str,
    params: dict[str, Any],
    watermark: int,
) -> None:
    client.write(
        "start_profile_run",
        run_id=run_id,
        kind=kind,
        model=model,
        params=json.dumps(params, sort_keys=True),
        watermark=watermark,
    )


def finish_run(
    client: GraphClient,
    run_id: str,
    *,
    status: str,
    metrics: dict[str, Any],
    timings: dict[str, float],
    profiles_written: int,
) -> None:
    client.write(
        "finish_profile_run",
        run_id=run_id,
        status=status,
        metrics=json.dumps(metrics, sort_keys=True),
        timings=json.dumps(timings, sort_keys=True),
        profiles_written=profiles_written,
    )


def read_run(client: GraphClient, run_id: str) -> dict[str, Any] | None:
    """A run's provenance record, with params/metrics/timings decoded and its times as
    timezone-aware ``datetime``s (compare times, never their strings); None if unknown."""
    rows = client.read("read_profile_run", run_id=run_id)
    if not rows:
        return None
    row = dict(rows[0])
    for key in ("params", "metrics", "timings"):
        row[key] = json.loads(row[key]) if row[key] else {}
    for key in ("started_at", "finished_at"):
        row[key] = row[key].to_native() if row[key] is not None else None
    return row
