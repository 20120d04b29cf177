"""Each user's actions in time order, as padded tensors a sequence model reads.

The snapshot's :class:`~engine.snapshot.ActionLog` is one row per timed action, sorted by user
and time. A :class:`Sequences` keeps each user's latest ``length`` actions in a ``[U, L]``
grid, left-aligned (position ``length[u] - 1`` is the latest action; a causal model never reads
the padding after it), with ``0`` as padding and every id shifted by one. An action's category
is its tag (a ``TAGGED`` action) or its item's first category.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from engine.interactions import primary_category
from engine.snapshot import ActionLog, Snapshot


@dataclass(frozen=True)
class Sequences:
    """``item``, ``category``, ``kind``: [U, L] ids + 1 (0 = padding); ``ts``: [U, L] epoch ms
    (-1 = padding); ``length``: [U] real actions per user (at most L)."""

    item: Tensor
    category: Tensor
    kind: Tensor
    ts: Tensor
    length: Tensor

    @property
    def num_users(self) -> int:
        return int(self.item.size(0))

    def last(self, column: Tensor) -> Tensor:
        """[U] the latest entry of ``column`` (its padding value for a user without actions)."""
        return column[torch.arange(self.num_users), (self.length - 1).clamp_min(0)]

    def gaps_hours(self) -> Tensor:
        """[U, L] hours since the previous action (0 at a user's first action and padding)."""
        ts = self.ts.to(torch.float64)
        gap = torch.zeros_like(ts)
        real = (self.ts[:, 1:] >= 0) & (self.ts[:, :-1] >= 0)
        gap[:, 1:] = torch.where(real, (ts[:, 1:] - ts[:, :-1]) / 3_600_000.0, 0.0)
        return gap.clamp_min(0.0)


def action_categories(log: ActionLog, snapshot: Snapshot) -> Tensor:
    """[A] each action's category: its tag, else its item's first category (-1 if none)."""
    primary = primary_category(snapshot)
    own = primary[log.item] if len(log) else torch.zeros(0, dtype=torch.long)
    return torch.where(log.category >= 0, log.category, own)


def build_sequences(log: ActionLog, categories: Tensor, num_users: int, length: int) -> Sequences:
    """The latest ``length`` actions of each of ``num_users`` users (``log`` sorted by user and
    time, as :meth:`ActionLog.build` leaves it; ``categories`` [A] from
    :func:`action_categories`)."""
    if length < 1:
        raise ValueError(f"sequence length must be at least 1, got {length}")
    counts = torch.bincount(log.user, minlength=num_users)
    starts = torch.cumsum(counts, 0) - counts
    position = torch.arange(len(log)) - starts[log.user]  # 0 = the user's first action
    from_end = counts[log.user] - 1 - position
    keep = from_end < length
    kept = counts.clamp_max(length)
    rows = log.user[keep]
    cols = kept[rows] - 1 - from_end[keep]

    def grid(values: Tensor, fill: int) -> Tensor:
        out = torch.full((num_users, length), fill, dtype=torch.long)
        out[rows, cols] = values[keep]
        return out

    return Sequences(
        item=grid(log.item + 1, 0),
        category=grid(categories + 1, 0),  # an unknown category (-1) reads as padding
        kind=grid(log.kind + 1, 0),
        ts=grid(log.ts, -1),
        length=kept,
    )
