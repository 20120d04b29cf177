"""Every user's recommendation list as columns, until a slot is read.

A refresh at a million users holds ten slots each: as Python dicts (item id, rank, score, kind,
reason, category) that is ~3.8 KiB a user, ~4 GiB at 1M; as the [U, N] tensors the lists are
picked in (:class:`engine.dimensions.recommendations.Recommendations`) plus the slot's friend share
it is
~0.35 KiB (by its dtypes: 36 bytes a slot). The slot dicts, with their reason sentence, are
made when a user's list is read (the writer's batch, a test); the result file stores the
tensors and the two name tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor

from engine.dimensions.recommendations import EXPLORE, Recommendations, reason

_SLOT = tuple(f.name for f in fields(Recommendations))  # item, score, kind, friends, own, ...
_DTYPES = {"item": torch.long, "category": torch.long, "score": torch.float32}


@dataclass
class RecommendationLists:
    """``slots``: [U, N] :class:`Recommendations` (snapshot item and category indices, -1 an
    empty slot / no category); ``share`` [U, N]: the friends' share of the slot's category
    (the reason of an explored slot no followee acted on); ``item_ids`` / ``category_names``
    name the indices. ``lists[u]``: user row ``u``'s slots as dicts, in rank order."""

    slots: Recommendations
    share: Tensor
    item_ids: list[str]
    category_names: list[str]

    @classmethod
    def empty(
        cls,
        users: int,
        width: int = 0,
        item_ids: list[str] | None = None,
        category_names: list[str] | None = None,
    ) -> RecommendationLists:
        """``users`` rows of ``width`` empty slots (filled by :meth:`put`)."""
        empty = {"item": -1, "category": -1}
        slots = {
            name: torch.full(
                (users, width), empty.get(name, 0), dtype=_DTYPES.get(name, torch.int32)
            )
            for name in _SLOT
        }
        return cls(
            Recommendations(**slots),
            torch.zeros(users, width),
            list(item_ids or []),
            list(category_names or []),
        )

    def put(self, rows: Tensor, recs: Recommendations, share: Tensor) -> None:
        """Store the lists of user rows ``rows`` (``share``: [B, C] friends' category share)."""
        # a zero column for the slots without a category (and data without categories)
        share = torch.cat([share.to(recs.category.device), share.new_zeros(share.size(0), 1)], 1)
        c = torch.where(recs.category >= 0, recs.category, share.size(1) - 1)
        slot_share = share.gather(1, c)
        rows, width = rows.cpu(), recs.item.size(1)  # at most the lists' width
        for name in _SLOT:
            column = getattr(self.slots, name)
            column[rows, :width] = getattr(recs, name).to("cpu", column.dtype)
        self.share[rows, :width] = slot_share.to("cpu", self.share.dtype)

    def __len__(self) -> int:
        return self.slots.item.size(0)

    def __getitem__(self, u: int) -> list[dict[str, Any]]:
        out = []
        t = self.slots
        columns = (t.item, t.score, t.kind, t.friends, t.own, t.category, self.share)
        for rank, (i, s, kind, friends, own, c, share) in enumerate(
            zip(*(column[u].tolist() for column in columns), strict=True), start=1
        ):
            if i < 0:
                continue
            category = self.category_names[c] if c >= 0 else None
            out.append(
                {
                    "item_id": self.item_ids[i],
                    "rank": rank,
                    "score": float(s) if s == s and abs(s) != float("inf") else 0.0,
                    "kind": "explore" if kind == EXPLORE else "exploit",
                    "reason": reason(kind, friends, own, category, share),
                    "category": category,
                }
            )
        return out

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        return (self[u] for u in range(len(self)))

    def select(self, rows: Tensor) -> RecommendationLists:
        """The lists of user rows ``rows``, in that order."""
        slots = Recommendations(**{name: getattr(self.slots, name)[rows] for name in _SLOT})
        return RecommendationLists(slots, self.share[rows], self.item_ids, self.category_names)

    def to_dict(self) -> dict[str, Any]:
        """Tensors and name lists only (the result file loads with ``weights_only``)."""
        out: dict[str, Any] = {name: getattr(self.slots, name) for name in _SLOT}
        return {
            **out,
            "share": self.share,
            "item_ids": self.item_ids,
            "category_names": self.category_names,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecommendationLists:
        slots = Recommendations(**{name: data[name] for name in _SLOT})
        return cls(slots, data["share"], data["item_ids"], data["category_names"])
