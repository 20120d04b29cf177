"""Reading the users, tags, interactions and follows of a set of users, chunk by chunk in
parallel sessions, into columns of numpy arrays.

Two readers return the same columns. The project's procedure, ``profilegraph.exportEdges``
(graph/plugin/, built and installed by the project's server start), walks each user's
relationships once and returns every column of a chunk as one packed byte array grouped by
type: the client maps it with numpy at no cost per edge (1.2M edges/s with properties on the
2-core machine, against 0.4M/s through Cypher). A server without it (a stock Docker image) is
read through Cypher queries that aggregate each chunk into one record of parallel lists. Rows
stream; nothing buffers a whole result.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np

from core.vocabulary import FOLLOWS_TYPE, REL_TYPES, TAGGED
from graph.client import GraphClient

INTERACTION_TYPES = tuple(rel for rel in REL_TYPES.values() if rel != TAGGED)
_KIND_CODE = {rel: code for code, rel in enumerate(INTERACTION_TYPES)}
# Column layouts of profilegraph.exportEdges (graph/plugin/ExportEdges.java): little-endian.
_PACKED = {
    "src": "<i8",
    "dst": "<i8",
    "weight": "<f4",
    "ts": "<i8",
    "first_ts": "<i8",
    "count": "<i8",
}
Reader = Literal["auto", "procedure", "cypher"]


@dataclass
class EdgeColumns:
    """Edges of one relationship type as arrays; ends are internal ids; ``ts`` is the latest
    event's time, ``first_ts`` the earliest."""

    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    ts: np.ndarray
    first_ts: np.ndarray
    count: np.ndarray

    def select(self, mask: np.ndarray) -> EdgeColumns:
        return EdgeColumns(*(getattr(self, f.name)[mask] for f in fields(self)))


class GroupedColumns:
    """Collects profilegraph.exportEdges records: each chunk's packed columns, split by type at
    the chunk's offsets (views, no copies until the final concatenation)."""

    def __init__(self, groups: int) -> None:
        self.parts: list[dict[str, list[np.ndarray]]] = [
            {name: [] for name in _PACKED} for _ in range(groups)
        ]

    def add(self, row: dict[str, Any]) -> None:
        bounds = np.frombuffer(row["offsets"], "<i8").tolist()
        for name, layout in _PACKED.items():
            column = np.frombuffer(row[name], layout)
            for group, (lo, hi) in enumerate(itertools.pairwise(bounds)):
                self.parts[group][name].append(column[lo:hi])

    def group(self, k: int) -> EdgeColumns:
        return EdgeColumns(
            **{
                name: np.concatenate(parts) if parts else np.zeros(0, _PACKED[name])
                for name, parts in self.parts[k].items()
            }
        )


def _chunks(ids: np.ndarray, size: int) -> list[list[int]]:
    return [ids[i : i + size].tolist() for i in range(0, len(ids), size)]


class Columns:
    """Concatenates the parallel lists of one query's per-chunk records.

    Numeric lists become arrays as each chunk arrives, so a large export holds 8 bytes per
    value instead of a Python int or float (~36 bytes) for every edge until the end.
    """

    def __init__(self) -> None:
        self.texts: dict[str, list[str]] = {}
        self.parts: dict[str, list[np.ndarray]] = {}

    def add(self, row: dict[str, Any]) -> None:
        for key, values in row.items():
            if not values:
                continue
            if isinstance(values[0], str):
                self.texts.setdefault(key, []).extend(values)
            else:
                self.parts.setdefault(key, []).append(np.asarray(values))

    def size(self, key: str) -> int:
        return len(self.texts.get(key, ())) + sum(len(p) for p in self.parts.get(key, ()))

    def array(
        self, key: str, dtype: type, *, like: str | None = None, default: float = 0
    ) -> np.ndarray:
        """A column as an array; an empty column (properties skipped) is filled with
        ``default`` to the length of column ``like``."""
        size = self.size(key)
        if like is not None and not size:
            return np.full(self.size(like), default, dtype=dtype)
        if not size:
            return np.zeros(0, dtype=dtype)
        return np.concatenate(self.parts[key]).astype(dtype, copy=False)

    def __getitem__(self, key: str) -> list[str]:
        return self.texts.get(key, [])


def read_chunks(
    client: GraphClient,
    queries: Sequence[str],
    ids: np.ndarray,
    *,
    chunk_size: int,
    workers: int,
    params: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
    into: Sequence[Any] = (),
) -> list[Any]:
    """Run each query over every chunk of ``ids`` in ``workers`` parallel sessions; each
    query's records go to its collector (``into``, default a :class:`Columns` each)."""
    columns = list(into) or [Columns() for _ in queries]

    def fetch(chunk: list[int]) -> list[dict[str, Any]]:
        return [client.read(query, ids=chunk, **(params or {}))[0] for query in queries]

    chunks = _chunks(ids, chunk_size)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for chunk, rows in zip(chunks, pool.map(fetch, chunks), strict=True):
            for column, row in zip(columns, rows, strict=True):
                column.add(row)
            if progress is not None:
                progress(len(chunk))
    return columns


def read_with_cypher(
    client: GraphClient, ids: np.ndarray, *, params: dict[str, Any], **chunking: Any
) -> tuple[Columns, Columns, dict[str, EdgeColumns], EdgeColumns]:
    """Users, tags, interactions by type, and follows of ``ids`` through Cypher queries."""
    users, inter, tags, follows = read_chunks(
        client,
        ("export_users", "export_interactions", "export_tags", "export_follows"),
        ids,
        params=params,
        **chunking,
    )
    n, m = inter.size("dst"), follows.size("dst")
    kinds = np.fromiter(map(_KIND_CODE.__getitem__, inter["kinds"]), np.int64, n)
    interactions = EdgeColumns(
        src=inter.array("src", np.int64),
        dst=inter.array("dst", np.int64),
        weight=inter.array("weights", np.float32, like="dst", default=1),
        ts=inter.array("ts", np.int64, like="dst", default=-1),
        first_ts=inter.array("first_ts", np.int64, like="dst", default=-1),
        count=inter.array("counts", np.int64, like="dst", default=1),
    )
    follow_ts = follows.array("ts", np.int64, like="dst", default=-1)
    social = EdgeColumns(
        src=follows.array("src", np.int64),
        dst=follows.array("dst", np.int64),
        weight=np.ones(m, np.float32),
        ts=follow_ts,
        first_ts=follow_ts,
        count=np.ones(m, np.int64),
    )
    by_type = {rel: interactions.select(kinds == code) for rel, code in _KIND_CODE.items()}
    return users, tags, by_type, social


def read_with_procedure(
    client: GraphClient, ids: np.ndarray, *, params: dict[str, Any], **chunking: Any
) -> tuple[Columns, Columns, dict[str, EdgeColumns], EdgeColumns]:
    """The same through ``profilegraph.exportEdges``: one pass over each user's relationships
    for interactions and follows, each column of a chunk arriving as one packed array."""
    types = [*INTERACTION_TYPES, FOLLOWS_TYPE]
    users, tags, packed = read_chunks(
        client,
        ("export_users", "export_tags", "export_edges"),
        ids,
        params={**params, "types": types},
        into=(Columns(), Columns(), GroupedColumns(len(types))),
        **chunking,
    )
    by_type = {rel: packed.group(k) for k, rel in enumerate(INTERACTION_TYPES)}
    return users, tags, by_type, packed.group(len(types) - 1)
