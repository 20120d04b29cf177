"""The items and friends named behind each user's top interests, as columns until read.

:func:`engine.dimensions.profile.build_profiles` picks, for every (user, top interest), the items
and
friends contributing most to it. As Python lists of ``{"items": [...], "friends": [...]}``
dicts that is ~1.7 KiB a user by ``sys.getsizeof`` (~2 GiB at a million users); kept as the
index tensors they are picked in, it is 24 bytes a named thing by their dtypes (~0.5 KiB a user
with five interests and two items and two friends each). A user's dicts are
made when their explanation is read (the writer's batch, a test); the result file stores the
tensors and the two name tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor

KINDS = ("items", "friends")
BLOCK = 4096  # rows made into dicts at once when iterating


@dataclass(frozen=True)
class Named:
    """The things of one kind named for each (row, interest slot), sorted by row, then slot,
    then contribution; ``thing`` indexes ``names``."""

    row: Tensor
    slot: Tensor
    thing: Tensor
    names: list[str]

    @classmethod
    def of(cls, row: Tensor, slot: Tensor, thing: Tensor, names: list[str]) -> Named:
        """Entries in (row, slot) groups, in the order given within each group; the name table
        keeps only the names used."""
        order = torch.argsort(
            row * (int(slot.max()) + 1 if slot.numel() else 1) + slot, stable=True
        )
        used, index = torch.unique(thing[order], return_inverse=True)
        return cls(row[order], slot[order], index, [names[i] for i in used.tolist()])


_NAMED = tuple(f.name for f in fields(Named))  # row, slot, thing, names


@dataclass
class InterestEvidence:
    """``self[u]``: user row ``u``'s explanation, one ``{"items": [...], "friends": [...]}``
    per interest (``kept[u]`` of them, in interest order), the names in contribution order."""

    items: Named
    friends: Named
    kept: Tensor  # [U] interests each row has

    def __len__(self) -> int:
        return self.kept.numel()

    def block(self, lo: int, hi: int) -> list[list[dict[str, list[str]]]]:
        out = [[{"items": [], "friends": []} for _ in range(k)] for k in self.kept[lo:hi].tolist()]
        for kind, named in zip(KINDS, (self.items, self.friends), strict=True):
            a, b = torch.searchsorted(named.row, torch.tensor([lo, hi])).tolist()
            rows, slots = named.row[a:b].tolist(), named.slot[a:b].tolist()
            for r, s, t in zip(rows, slots, named.thing[a:b].tolist(), strict=True):
                if s < len(out[r - lo]):
                    out[r - lo][s][kind].append(named.names[t])
        return out

    def __getitem__(self, u: int) -> list[dict[str, list[str]]]:
        return self.block(u, u + 1)[0]

    def __iter__(self) -> Iterator[list[dict[str, list[str]]]]:
        for lo in range(0, len(self), BLOCK):
            yield from self.block(lo, min(lo + BLOCK, len(self)))

    def to_dict(self) -> dict[str, Any]:
        """Tensors and name lists only (the result file loads with ``weights_only``)."""
        out: dict[str, Any] = {"kept": self.kept}
        for kind, named in zip(KINDS, (self.items, self.friends), strict=True):
            out.update({f"{kind}_{k}": getattr(named, k) for k in _NAMED})
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InterestEvidence:
        items, friends = (Named(*(data[f"{kind}_{k}"] for k in _NAMED)) for kind in KINDS)
        return cls(items, friends, data["kept"])
