"""A frozen, self-contained copy of (part of) the graph, as tensors.

``graph.export`` builds it from Neo4j; everything in ``engine`` reads only this. It saves to one
file (``torch.save`` of plain tensors, lists and dicts; loaded with ``weights_only=True``), so
training can run on another machine that has only the file.

Node indices are contiguous per node type; ``node_ids[type][i]`` is the external id of node
``i``. Edge sets are COO (``src``, ``dst``) with per-edge weight, count and timestamp (epoch
ms, ``-1`` when unknown): ``ts`` is the *latest* time of the edge's events and ``first_ts`` the
*earliest* (an edge aggregates every event of one user, item and kind), so "when was it first
taken up" and "when was it last touched" are both answered. Edge types are ``(src_type,
relation, dst_type)`` triples, e.g. ``("user", "LISTENED", "item")``; ``TAGGED`` edges also
carry the category index per edge.

Edges aggregate (one per user, item and kind), so they lose the order of a user's actions; the
optional :class:`ActionLog` keeps it: one row per timed action (the graph keeps the latest few
times of each edge), what sequence models read. The optional :class:`ReviewDigest` holds
what the reviews' words come to - a sentiment score and counts of common terms per review -
never the words themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from engine.typing import EdgeType, NodeType

FORMAT_VERSION = 1


@dataclass
class EdgeSet:
    src: Tensor
    dst: Tensor
    weight: Tensor
    ts: Tensor
    count: Tensor
    category: Tensor | None = None
    # the earliest event's time (epoch ms, -1 unknown); None: every edge is one event (first = ts)
    first_ts: Tensor | None = None

    def __len__(self) -> int:
        return int(self.src.numel())

    @property
    def first(self) -> Tensor:
        """The earliest time of each edge's events (``ts`` where only one time is known)."""
        return self.ts if self.first_ts is None else self.first_ts

    def select(self, keep: Tensor) -> EdgeSet:
        """The edges at ``keep`` (a mask or indices), every column alike."""
        return EdgeSet(
            **{k: v[keep] for k, v in self.to_dict().items()},  # type: ignore[arg-type]
        )

    def to_dict(self) -> dict[str, Tensor]:
        out = {k: getattr(self, k) for k in ("src", "dst", "weight", "ts", "count")}
        for optional in ("category", "first_ts"):
            if getattr(self, optional) is not None:
                out[optional] = getattr(self, optional)
        return out


@dataclass
class ActionLog:
    """One row per timed action, sorted by (user, ts): ``kind`` indexes ``kinds`` (relationship
    types, e.g. ``"VIEWED"``); ``category`` is the tag of a ``TAGGED`` action (-1 otherwise: the
    item's own category applies)."""

    user: Tensor
    item: Tensor
    kind: Tensor
    ts: Tensor
    category: Tensor
    kinds: list[str]

    def __len__(self) -> int:
        return int(self.user.numel())

    @classmethod
    def build(
        cls,
        user: Tensor,
        item: Tensor,
        kind: Tensor,
        ts: Tensor,
        category: Tensor,
        kinds: list[str],
    ) -> ActionLog:
        """Sort the rows by user, then time (stable: equal times keep their input order)."""
        order = torch.argsort(ts, stable=True)
        order = order[torch.argsort(user[order], stable=True)]
        return cls(
            user[order].long(),
            item[order].long(),
            kind[order].long(),
            ts[order].long(),
            category[order].long(),
            list(kinds),
        )

    def select(self, keep: Tensor) -> ActionLog:
        return ActionLog(
            self.user[keep],
            self.item[keep],
            self.kind[keep],
            self.ts[keep],
            self.category[keep],
            self.kinds,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "item": self.item,
            "kind": self.kind,
            "ts": self.ts,
            "category": self.category,
            "kinds": self.kinds,
        }


@dataclass
class ReviewDigest:
    """Each review with text, as numbers: who wrote it on what and when, its stars (0: none),
    its sentiment score in [0, 1] (NaN: no scorer ships for its language) and its counts of
    the ``terms`` (the vocabulary of words at least ``min_writers`` users wrote: a word only
    one person used never leaves the graph). Built by ``engine.dimensions.review_text``."""

    user: Tensor  # [R]
    item: Tensor  # [R]
    ts: Tensor  # [R] epoch ms
    stars: Tensor  # [R]
    score: Tensor  # [R]
    language: Tensor  # [R] index into ``languages``
    languages: list[str]
    scorers: list[str]  # per language: the scorer behind ``score`` ("none": no score, why)
    terms: list[str]
    term_written: Tensor  # [V] how often each term was written over all users (the background)
    term_review: Tensor  # [T] the review of each (review, term) count
    term: Tensor  # [T] index into ``terms``
    term_count: Tensor  # [T]

    def __len__(self) -> int:
        return int(self.user.numel())

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def validate(self, n_users: int, n_items: int) -> None:
        n = len(self)
        for name in ("user", "item", "ts", "stars", "score", "language"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"reviews: '{name}' must be 1-d with {n} entries")
        if self.term.shape != self.term_review.shape or self.term.shape != self.term_count.shape:
            raise ValueError("reviews: 'term', 'term_review' and 'term_count' must align")
        for name, tensor, bound in (
            ("user", self.user, n_users),
            ("item", self.item, n_items),
            ("language", self.language, len(self.languages)),
            ("term_review", self.term_review, n),
            ("term", self.term, len(self.terms)),
        ):
            if name == "term" and self.term_written.shape != (len(self.terms),):
                raise ValueError(f"reviews: 'term_written' must hold {len(self.terms)} entries")
            if tensor.numel() and (int(tensor.min()) < 0 or int(tensor.max()) >= bound):
                raise ValueError(f"reviews: '{name}' must lie in [0, {bound})")


@dataclass
class Snapshot:
    """Nodes, edges and the ingest watermark the export was taken at."""

    node_ids: dict[NodeType, list[str]]
    edges: dict[EdgeType, EdgeSet]
    watermark: int
    taken_at: float
    selection: dict[str, Any]
    # Per node type: boolean masks / numeric features (e.g. user "seed": the users the
    # selection asked for, as opposed to neighbours exported as context).
    node_features: dict[NodeType, dict[str, Tensor]] = field(default_factory=dict)
    actions: ActionLog | None = None
    reviews: ReviewDigest | None = None

    def num_nodes(self, node_type: NodeType) -> int:
        return len(self.node_ids.get(node_type, []))

    def num_edges(self) -> int:
        return sum(len(e) for e in self.edges.values())

    def index_of(self, node_type: NodeType) -> dict[str, int]:
        return {node_id: i for i, node_id in enumerate(self.node_ids[node_type])}

    def validate(self) -> None:
        """Raise ValueError naming the edge type, what was expected and what was found."""
        for (src_type, rel, dst_type), edges in self.edges.items():
            n = len(edges)
            for name, tensor in edges.to_dict().items():
                if tensor.dim() != 1 or tensor.numel() != n:
                    raise ValueError(
                        f"edge type {(src_type, rel, dst_type)}: '{name}' must be 1-d with {n} "
                        f"entries (found shape {tuple(tensor.shape)})"
                    )
            if edges.first_ts is not None and bool(
                ((edges.first_ts > edges.ts) & (edges.ts >= 0)).any()
            ):
                raise ValueError(
                    f"edge type {(src_type, rel, dst_type)}: 'first_ts' must not come after 'ts' "
                    "(first_ts is the earliest event's time, ts the latest)"
                )
            for end, node_type, ids in (("src", src_type, edges.src), ("dst", dst_type, edges.dst)):
                bound = self.num_nodes(node_type)
                if n and (int(ids.min()) < 0 or int(ids.max()) >= bound):
                    raise ValueError(
                        f"edge type {(src_type, rel, dst_type)}: '{end}' indices must lie in "
                        f"[0, {bound}) (found [{int(ids.min())}, {int(ids.max())}])"
                    )
        if self.actions is not None:
            self._validate_actions(self.actions)
        if self.reviews is not None:
            self.reviews.validate(self.num_nodes("user"), self.num_nodes("item"))

    def _validate_actions(self, log: ActionLog) -> None:
        n = len(log)
        bounds = {
            "user": self.num_nodes("user"),
            "item": self.num_nodes("item"),
            "kind": len(log.kinds),
            "category": self.num_nodes("category"),
        }
        for name in ("user", "item", "kind", "ts", "category"):
            tensor = getattr(log, name)
            if tensor.dim() != 1 or tensor.numel() != n:
                raise ValueError(
                    f"actions: '{name}' must be 1-d with {n} entries "
                    f"(found shape {tuple(tensor.shape)})"
                )
        if n > 1:
            # sequence models read each user's rows as their order: sorted by user, then time
            same = log.user[1:] == log.user[:-1]
            if bool((log.user[1:] < log.user[:-1]).any()) or bool(
                (same & (log.ts[1:] < log.ts[:-1])).any()
            ):
                raise ValueError(
                    "actions: rows must be sorted by user, then time (ActionLog.build)"
                )
        for name, bound in bounds.items():
            tensor = getattr(log, name)
            low = -1 if name == "category" else 0
            if n and (int(tensor.min()) < low or int(tensor.max()) >= bound):
                raise ValueError(
                    f"actions: '{name}' must lie in [{low}, {bound}) "
                    f"(found [{int(tensor.min())}, {int(tensor.max())}])"
                )

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(
            {
                "format_version": FORMAT_VERSION,
                "node_ids": self.node_ids,
                "edges": {"|".join(k): v.to_dict() for k, v in self.edges.items()},
                "watermark": self.watermark,
                "taken_at": self.taken_at,
                "selection": self.selection,
                "node_features": self.node_features,
                "actions": None if self.actions is None else self.actions.to_dict(),
                "reviews": None if self.reviews is None else self.reviews.to_dict(),
            },
            tmp,
        )
        tmp.replace(path)  # a reader never sees a half-written snapshot
        return path

    @classmethod
    def load(cls, path: Path) -> Snapshot:
        data = torch.load(path, weights_only=True)
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{path}: snapshot format {FORMAT_VERSION} expected "
                f"(found {data.get('format_version')})"
            )
        edges = {tuple(k.split("|")): EdgeSet(**v) for k, v in data["edges"].items()}
        return cls(
            node_ids=data["node_ids"],
            edges=edges,  # type: ignore[arg-type]
            watermark=data["watermark"],
            taken_at=data["taken_at"],
            selection=data["selection"],
            node_features=data["node_features"],
            actions=ActionLog(**data["actions"]) if data.get("actions") else None,
            reviews=ReviewDigest(**data["reviews"]) if data.get("reviews") else None,
        )

    def __repr__(self) -> str:
        nodes = ", ".join(f"{t}={len(ids)}" for t, ids in self.node_ids.items())
        edges = ", ".join(f"{r}={len(e)}" for (_, r, _), e in self.edges.items())
        actions = "" if self.actions is None else f"; actions={len(self.actions)}"
        return f"Snapshot({nodes}; {edges}{actions}; watermark={self.watermark})"
