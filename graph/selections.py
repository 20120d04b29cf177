"""What an export reads: the whole graph, the k-hop social neighbourhood of some users, a time
window, or "changed since a watermark, plus k hops" (what the incremental refresh exports);
and how a selection is resolved to the Neo4j ids of the users to export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from graph.client import GraphClient
from graph.events import Identifier


class _Selection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WholeGraph(_Selection):
    kind: Literal["whole"] = "whole"


class Neighbourhood(_Selection):
    """The given users and everyone within ``hops`` FOLLOWS steps (either direction)."""

    kind: Literal["khop"] = "khop"
    user_ids: list[Identifier] = Field(min_length=1, max_length=1_000_000)
    hops: int = Field(1, ge=0, le=4)


class TimeWindow(_Selection):
    """Edges with ``start <= ts < end`` and the nodes they touch (edges without ts excluded)."""

    kind: Literal["window"] = "window"
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindow:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self


class ChangedSince(_Selection):
    """Users changed after ``watermark`` (an ingest seq) and everyone within ``hops`` of them."""

    kind: Literal["changed"] = "changed"
    watermark: int = Field(ge=0)
    hops: int = Field(1, ge=0, le=4)


Selection = Annotated[
    WholeGraph | Neighbourhood | TimeWindow | ChangedSince, Field(discriminator="kind")
]


def _expand(client: GraphClient, seeds: np.ndarray, hops: int) -> np.ndarray:
    """Breadth-first k-hop expansion over FOLLOWS, one query per hop."""
    seen, frontier = set(seeds.tolist()), seeds.tolist()
    for _ in range(hops):
        if not frontier:
            break
        found = client.read("social_neighbours", ids=frontier)[0]["ids"]
        frontier = [nid for nid in found if nid not in seen]
        seen.update(frontier)
    return np.array(sorted(seen), dtype=np.int64)


def select_users(client: GraphClient, selection: Selection) -> tuple[np.ndarray, np.ndarray]:
    """(internal ids of all users to export, internal ids of the seed users)."""
    match selection:
        case WholeGraph() | TimeWindow():
            ids = np.array(sorted(client.read("export_user_ids")[0]["ids"]), dtype=np.int64)
            return ids, ids
        case Neighbourhood():
            seeds = client.read("user_ids_by_external_id", user_ids=selection.user_ids)[0]["ids"]
        case ChangedSince():
            seeds = client.read("changed_user_ids", since=selection.watermark)[0]["ids"]
        case _:
            raise TypeError(f"unknown selection {selection!r}")
    seed_ids = np.array(sorted(seeds), dtype=np.int64)
    return _expand(client, seed_ids, selection.hops), seed_ids


def describe(selection: Selection) -> dict[str, Any]:
    data = selection.model_dump(mode="json")
    if "user_ids" in data and len(data["user_ids"]) > 20:
        data["user_ids"] = [*data["user_ids"][:20], f"... {len(data['user_ids'])} in all"]
    return data
