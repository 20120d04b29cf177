"""What an export reads: the whole graph, the k-hop social neighbourhood of some users, a time
window, or "changed since a watermark, plus k hops" (what the incremental refresh exports);
and how a selection is resolved to the Neo4j ids of the users to export."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Consent:
    """Who may be profiled: a user's ``profiling_consent``, else ``default``. Users who may
    not are left out of the export, or, with ``as_context``, exported as context (follows and
    actions that inform others' influence and interests) but never as seeds."""

    default: bool = True
    as_context: bool = False


EVERYONE_BY_DEFAULT = Consent()  # consent_default true, the unconsented left out
CONSENT_CHUNK = 100_000


def _consenting(client: GraphClient, ids: np.ndarray, default: bool) -> np.ndarray:
    kept: list[int] = []
    for start in range(0, len(ids), CONSENT_CHUNK):
        chunk = ids[start : start + CONSENT_CHUNK].tolist()
        kept += client.read("consenting_users", ids=chunk, consent_default=default)[0]["ids"]
    return np.array(sorted(kept), dtype=np.int64)


def select_users(
    client: GraphClient, selection: Selection, consent: Consent = EVERYONE_BY_DEFAULT
) -> tuple[np.ndarray, np.ndarray]:
    """(internal ids of all users to export, internal ids of the seed users); seeds are always
    users who may be profiled."""
    match selection:
        case WholeGraph() | TimeWindow():
            everyone = client.read(
                "export_user_ids",
                consent_default=consent.default,
                include_unconsented=consent.as_context,
            )[0]["ids"]
            ids = np.array(sorted(everyone), dtype=np.int64)
            seeds = _consenting(client, ids, consent.default) if consent.as_context else ids
            return ids, seeds
        case Neighbourhood():
            found = client.read("user_ids_by_external_id", user_ids=selection.user_ids)[0]["ids"]
        case ChangedSince():
            found = client.read("changed_user_ids", since=selection.watermark)[0]["ids"]
        case _:
            raise TypeError(f"unknown selection {selection!r}")
    seed_ids = _consenting(client, np.array(sorted(found), dtype=np.int64), consent.default)
    ids = _expand(client, seed_ids, selection.hops)
    return (ids if consent.as_context else _consenting(client, ids, consent.default)), seed_ids


def describe(selection: Selection) -> dict[str, Any]:
    data = selection.model_dump(mode="json")
    if "user_ids" in data and len(data["user_ids"]) > 20:
        data["user_ids"] = [*data["user_ids"][:20], f"... {len(data['user_ids'])} in all"]
    return data
