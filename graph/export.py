"""Export a selection of the graph from Neo4j into an :class:`engine.snapshot.Snapshot`.

How it reads: the selection is resolved to the users to export (``graph.selections``); their
users, tags and edges are read in chunks (``graph.edge_readers``); then the items their edges
reach, with their categories. Internal ids are mapped to contiguous indices with numpy and never
leave this module.

The watermark is the change epoch closed *before* any data is read (by the refresh's plan, or
here; ``graph.ingest.close_epoch``), so every change committed after it carries a later epoch
and is picked up by the next incremental export; a change that commits while the export runs
may also appear in this one, which is harmless (profiles converge).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import torch

from core.settings import SENSITIVE
from core.vocabulary import FOLLOWS, IN_CATEGORY, ORDERS, REL_TYPES, TAGGED, TAGS
from engine.dimensions.review_text import ReviewRows
from engine.evaluation import fairness
from engine.snapshot import ActionLog, EdgeSet, ReviewDigest, Snapshot
from graph.client import GraphClient
from graph.edge_readers import (
    Columns,
    EdgeColumns,
    Reader,
    read_chunks,
    read_with_cypher,
    read_with_procedure,
)
from graph.ingest import close_epoch
from graph.selections import (
    EVERYONE_BY_DEFAULT,
    Consent,
    Selection,
    TimeWindow,
    describe,
    select_users,
)

ACTIONS_PER_USER = 500  # each user's latest logged actions an export keeps (sequence models)


class _IdIndex:
    """Maps Neo4j internal ids to row positions (-1 where absent).

    Internal ids are dense (the store reuses them), so a lookup table indexed by id is usually a
    few MB and a gather is several times faster than sorting and binary search; a small
    selection from a huge store falls back to a sorted search so the table stays bounded.
    """

    def __init__(self, nids: np.ndarray) -> None:
        self.top = int(nids.max()) if len(nids) else -1
        self.dense = self.top < max(16 * len(nids), 1 << 22)
        if self.dense:
            self.table = np.full(self.top + 1, -1, dtype=np.int64)
            self.table[nids] = np.arange(len(nids))
        else:
            self.order = np.argsort(nids)
            self.sorted = nids[self.order]

    def positions(self, nids: np.ndarray) -> np.ndarray:
        out = np.full(len(nids), -1, dtype=np.int64)
        if self.dense:
            known = nids <= self.top
            out[known] = self.table[nids[known]]
        elif len(self.sorted):
            at = np.minimum(np.searchsorted(self.sorted, nids), len(self.sorted) - 1)
            found = self.sorted[at] == nids
            out[found] = self.order[at[found]]
        return out


def _unique_inverse(nids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(nids, return_inverse=True)`` in linear time for dense ids."""
    if not len(nids):
        return nids, nids
    present = np.zeros(int(nids.max()) + 1, dtype=bool)
    if len(present) > max(16 * len(nids), 1 << 22):
        return np.unique(nids, return_inverse=True)
    present[nids] = True
    return np.flatnonzero(present), (np.cumsum(present) - 1)[nids]


@dataclass
class _Read:
    """What the edge readers returned for the selected users (ends are internal ids)."""

    users: Columns
    tags: Columns
    by_type: dict[str, EdgeColumns]  # interactions, per relationship type
    follows: EdgeColumns


@dataclass
class _UserMap:
    """Each read edge's user ends as snapshot indices."""

    nids: np.ndarray  # internal id of each read user row
    kept: np.ndarray  # read rows that become snapshot users
    index: np.ndarray  # read row -> snapshot index (valid where kept)
    interaction_src: dict[str, np.ndarray]  # per type: read row of each edge's user
    tag_src: np.ndarray
    follow_src: np.ndarray  # follows with both ends exported
    follow_dst: np.ndarray
    follow_ts: np.ndarray


@dataclass
class _ItemMap:
    """Every item an exported edge reaches, and the categories."""

    nids: np.ndarray
    ids: list[str]
    of_edges: dict[str, np.ndarray]  # per type (TAGGED too): item index of each edge
    categories: list[str]
    category_of_tag: np.ndarray
    in_category: EdgeSet
    price: np.ndarray  # per item, the catalogue price (-1 unknown)


def export_snapshot(
    client: GraphClient,
    selection: Selection,
    *,
    watermark: int | None = None,
    chunk_size: int = 20_000,
    workers: int = 2,
    properties: bool = True,
    reader: Reader = "auto",
    progress: Callable[[int], None] | None = None,
    actions_per_user: int = ACTIONS_PER_USER,
    consent: Consent = EVERYONE_BY_DEFAULT,
    sensitive: tuple[str, ...] = (),
    reviews: Callable[[ReviewRows], ReviewDigest] | None = None,
) -> Snapshot:
    """Read ``selection`` into a Snapshot (see the module docstring for how).

    ``properties=False`` exports structure only (weights 1, counts 1, times -1; tag categories
    are kept): reading relationship properties is most of the server's work, and models that
    use only who-interacted-with-what do not need them. ``reader`` picks how edges are read:
    the ``profilegraph.exportEdges`` procedure when the server has it (``auto``), or Cypher.
    ``watermark`` is the change epoch the caller closed before (a refresh's one watermark,
    which its profiles carry too, ``graph.ingest.close_epoch``); without it the export closes
    the open one first.
    With ``properties``, the snapshot's action log holds each user's latest ``actions_per_user``
    timed actions (the order sequence models read). ``consent`` says who may be exported
    (``graph.selections.Consent``; seeds are always users who may be profiled). ``sensitive``
    names the sensitive attributes to export for the fairness report
    (``engine.evaluation.fairness``);
    by default none is read. ``reviews`` turns the exported users' reviews with text into
    numbers (``engine.dimensions.review_text``): the words are read, handed to it and dropped
    here; without it (or without ``properties``) the snapshot has no review digest.
    """
    started = time.time()
    if watermark is None:
        watermark = close_epoch(client)
    user_nids, seed_nids = select_users(client, selection, consent)
    chunking = {"chunk_size": chunk_size, "workers": workers}
    read = _read(client, selection, user_nids, properties, reader, progress, **chunking)
    users = _map_users(read, only_active=isinstance(selection, TimeWindow))
    items = _map_items(client, read, **chunking)
    kept = users.kept
    user_names = read.users["user_ids"]
    order_ids, orders = _orders(client, users, _window(selection), properties, **chunking)
    snapshot = Snapshot(
        node_ids={
            "user": [user_names[i] for i in kept.tolist()],
            "item": items.ids,
            "category": items.categories,
            "order": order_ids,
        },
        edges={**_edge_sets(read, users, items), ORDERS: orders},
        actions=(
            _actions(client, users, items, _window(selection), actions_per_user, **chunking)
            if properties
            else None
        ),
        watermark=watermark,
        taken_at=started,
        selection={**describe(selection), "properties": properties},
        node_features={
            "item": {"price": torch.from_numpy(np.ascontiguousarray(items.price))},
            "user": {
                "seed": torch.from_numpy(np.isin(users.nids[kept], seed_nids)),
                "changed_seq": torch.from_numpy(read.users.array("changed", np.int64)[kept]),
            },
        },
    )
    if reviews is not None and properties:
        snapshot.reviews = reviews(_reviews(client, users, items, _window(selection), **chunking))
    for attribute in sensitive:
        if attribute not in SENSITIVE:
            raise ValueError(f"sensitive: {attribute!r} is not one of {SENSITIVE}")
        values: list[str] = []
        nids = users.nids[kept].tolist()
        for start in range(0, len(nids), chunk_size):
            chunk = nids[start : start + chunk_size]
            values += client.read("export_sensitive", ids=chunk, attribute=attribute)[0]["values"]
        fairness.attach(snapshot, attribute, values)
    snapshot.validate()
    return snapshot


def _read(
    client: GraphClient,
    selection: Selection,
    user_nids: np.ndarray,
    properties: bool,
    reader: Reader,
    progress: Callable[[int], None] | None,
    **chunking: Any,
) -> _Read:
    """Users, tags and edges of ``user_nids`` through the chosen reader."""
    window: dict[str, Any] = {**_window(selection), "properties": properties}
    if reader == "auto":
        reader = "procedure" if client.has_procedure("profilegraph.exportEdges") else "cypher"
    read = read_with_procedure if reader == "procedure" else read_with_cypher
    users, tags, by_type, follows = read(
        client, user_nids, params=window, progress=progress, **chunking
    )
    return _Read(users, tags, {rel: p for rel, p in by_type.items() if len(p.src)}, follows)


def _map_users(read: _Read, *, only_active: bool) -> _UserMap:
    """Internal ids to snapshot indices; ``only_active`` keeps only users with an edge (a time
    window's users)."""
    nids = read.users.array("nids", np.int64)
    rows = _IdIndex(nids)
    src = {rel: rows.positions(part.src) for rel, part in read.by_type.items()}
    tag_src = rows.positions(read.tags.array("src", np.int64))
    f_src, f_dst = rows.positions(read.follows.src), rows.positions(read.follows.dst)
    inside = f_dst >= 0  # both ends must be exported
    f_src, f_dst, f_ts = f_src[inside], f_dst[inside], read.follows.ts[inside]
    keep = np.ones(len(nids), dtype=bool)
    if only_active:
        keep[:] = False
        for ends in (*src.values(), tag_src, f_src, f_dst):
            keep[ends] = True
    index = np.cumsum(keep) - 1  # row position -> snapshot index
    return _UserMap(nids, np.flatnonzero(keep), index, src, tag_src, f_src, f_dst, f_ts)


def _window(selection: Selection) -> dict[str, Any]:
    if isinstance(selection, TimeWindow):
        return {"start": _ms(selection.start), "end": _ms(selection.end)}
    return {"start": None, "end": None}


def _orders(
    client: GraphClient,
    users: _UserMap,
    window: dict[str, Any],
    properties: bool,
    **chunking: Any,
) -> tuple[list[str], EdgeSet]:
    """The orders of the exported users (in the selection's time window, if it has one):
    ``weight`` is the amount (-1 unknown); without ``properties``, times and amounts are
    unknown like every other edge's."""
    (read,) = read_chunks(
        client, ("export_orders",), users.nids[users.kept], params=window, **chunking
    )
    rows = _IdIndex(users.nids).positions(read.array("src", np.int64))
    n = len(rows)
    amounts = read.array("amounts", np.float32, like="src", default=-1)
    ts = read.array("ts", np.int64, like="src", default=-1)
    if not properties:
        amounts, ts = np.full(n, -1, np.float32), np.full(n, -1, np.int64)
    ids = list(read["order_ids"]) if n else []
    return ids, _edge_set(
        users.index[rows], np.arange(n, dtype=np.int64), amounts, ts, np.ones(n, np.int64)
    )


def _actions(
    client: GraphClient,
    users: _UserMap,
    items: _ItemMap,
    window: dict[str, Any],
    per_user: int,
    **chunking: Any,
) -> ActionLog:
    """The exported users' latest timed actions (in the selection's window, if it has one);
    an action on an item no exported edge reaches (its edge's latest time fell outside the
    window) is left out, as its edge is."""
    (read,) = read_chunks(
        client,
        ("export_actions",),
        users.nids[users.kept],
        params={**window, "per_user": per_user},
        **chunking,
    )
    rows = _IdIndex(users.nids).positions(read.array("src", np.int64))
    item = _IdIndex(items.nids).positions(read.array("dst", np.int64, like="src", default=-1))
    kinds = sorted(set(REL_TYPES.values()))
    kind_index = {rel: k for k, rel in enumerate(kinds)}
    category_index = {name: c for c, name in enumerate(items.categories)}
    n = len(rows)
    kind = np.array([kind_index[k] for k in read["kinds"]] if n else [], np.int64)
    category = np.array(
        [category_index.get(c, -1) for c in read["categories"]] if n else [],
        np.int64,
    )
    keep = item >= 0
    return ActionLog.build(
        *(
            torch.from_numpy(np.ascontiguousarray(column[keep], dtype=np.int64))
            for column in (
                users.index[rows],
                item,
                kind,
                read.array("ts", np.int64, like="src", default=-1),
                category,
            )
        ),
        kinds=kinds,
    )


def _reviews(
    client: GraphClient, users: _UserMap, items: _ItemMap, window: dict[str, Any], **chunking: Any
) -> ReviewRows:
    """The exported users' reviews with text (in the selection's window, if it has one)."""
    (read,) = read_chunks(
        client, ("export_review_texts",), users.nids[users.kept], params=window, **chunking
    )
    rows = _IdIndex(users.nids).positions(read.array("src", np.int64))
    item = _IdIndex(items.nids).positions(read.array("dst", np.int64, like="src", default=-1))
    keep = item >= 0  # an item no exported edge reaches is left out, as in _actions
    where = np.flatnonzero(keep).tolist()
    texts, languages = read["texts"], read["languages"]
    return ReviewRows(
        user=torch.from_numpy(users.index[rows][keep].astype(np.int64)),
        item=torch.from_numpy(item[keep].astype(np.int64)),
        ts=torch.from_numpy(read.array("ts", np.int64, like="src", default=-1)[keep]),
        stars=torch.from_numpy(read.array("stars", np.float32, like="src")[keep]),
        texts=[texts[i] for i in where],
        languages=[languages[i] for i in where],
    )


def _map_items(client: GraphClient, read: _Read, **chunking: Any) -> _ItemMap:
    """Every item an exported edge reaches (read with its categories), as snapshot indices."""
    reached = [*(part.dst for part in read.by_type.values()), read.tags.array("dst", np.int64)]
    item_nids, item_of_edge = _unique_inverse(np.concatenate(reached))
    ends = np.cumsum([0, *(len(dst) for dst in reached)]).tolist()
    parts = (item_of_edge[lo:hi] for lo, hi in itertools.pairwise(ends))
    of_edges = dict(zip([*read.by_type, TAGGED], parts, strict=True))
    items, item_cats = read_chunks(
        client, ("export_items", "export_item_categories"), item_nids, **chunking
    )
    item_order = np.argsort(items.array("nids", np.int64))  # -> aligned with item_nids
    item_names = items["item_ids"]
    categories = client.read("export_categories")[0]
    category_index = {name: i for i, name in enumerate(categories["names"])}
    ic_src = _IdIndex(item_nids).positions(item_cats.array("src", np.int64))
    ic_dst = _IdIndex(np.array(categories["ids"], dtype=np.int64)).positions(
        item_cats.array("dst", np.int64)
    )
    in_category = _edge_set(
        ic_src,
        ic_dst,
        item_cats.array("weights", np.float32),
        np.full(len(ic_src), -1, np.int64),
        np.ones(len(ic_src), np.int64),
    )
    tag_categories = np.array([category_index[c] for c in read.tags["categories"]], np.int64)
    return _ItemMap(
        nids=item_nids,
        ids=[item_names[i] for i in item_order.tolist()],
        of_edges=of_edges,
        categories=list(categories["names"]),
        category_of_tag=tag_categories,
        in_category=in_category,
        price=items.array("prices", np.float64, like="nids", default=-1)[item_order],
    )


def _edge_sets(
    read: _Read, users: _UserMap, items: _ItemMap
) -> dict[tuple[str, str, str], EdgeSet]:
    """The snapshot's edge sets: interactions by type, tags, follows, item categories."""
    index = users.index
    edges: dict[tuple[str, str, str], EdgeSet] = {}
    for rel, part in read.by_type.items():
        edges[("user", rel, "item")] = _edge_set(
            index[users.interaction_src[rel]],
            items.of_edges[rel],
            part.weight,
            part.ts,
            part.count,
            first_ts=part.first_ts,
        )
    if len(users.tag_src):
        tags = read.tags
        tag_counts = tags.array("counts", np.int64, like="dst", default=1)
        edges[TAGS] = _edge_set(
            index[users.tag_src],
            items.of_edges[TAGGED],
            tag_counts.astype(np.float32),
            tags.array("ts", np.int64, like="dst", default=-1),
            tag_counts,
            category=items.category_of_tag,
            first_ts=tags.array("first_ts", np.int64, like="dst", default=-1),
        )
    n_follows = len(users.follow_src)
    edges[FOLLOWS] = _edge_set(
        index[users.follow_src],
        index[users.follow_dst],
        np.ones(n_follows, np.float32),
        users.follow_ts,
        np.ones(n_follows, np.int64),
    )
    edges[IN_CATEGORY] = items.in_category
    return edges


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _edge_set(
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    ts: np.ndarray,
    count: np.ndarray,
    category: np.ndarray | None = None,
    first_ts: np.ndarray | None = None,
) -> EdgeSet:
    return EdgeSet(
        src=torch.from_numpy(np.ascontiguousarray(src, dtype=np.int64)),
        dst=torch.from_numpy(np.ascontiguousarray(dst, dtype=np.int64)),
        weight=torch.from_numpy(np.ascontiguousarray(weight, dtype=np.float32)),
        ts=torch.from_numpy(np.ascontiguousarray(ts, dtype=np.int64)),
        count=torch.from_numpy(np.ascontiguousarray(count, dtype=np.int64)),
        category=None if category is None else torch.from_numpy(category),
        first_ts=None
        if first_ts is None
        else torch.from_numpy(np.ascontiguousarray(first_ts, dtype=np.int64)),
    )
