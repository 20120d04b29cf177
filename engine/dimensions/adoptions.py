"""Adoptions: what the data shows of influence.

A user ``u`` *influences* a follower ``f`` when ``f`` first takes up an item ``u`` took up
earlier, within ``window`` (an *adoption*). A user's influence over a period is the number of
adoptions they triggered in it. Everything here is counting over timestamped actions and the
follow graph; ``engine.models.influence`` learns to predict these counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

DAY_MS = 86_400_000
DEFAULT_WINDOW_DAYS = 30.0  # a follower's take-up within this long of a followee's counts


@dataclass(frozen=True)
class Actions:
    """Timestamped user-item actions (first take-up per pair is what counts)."""

    user: Tensor
    item: Tensor
    ts: Tensor

    def before(self, t: int) -> Actions:
        keep = self.ts <= t
        return Actions(self.user[keep], self.item[keep], self.ts[keep])


@dataclass(frozen=True)
class Adoptions:
    influencer: Tensor
    follower: Tensor
    item: Tensor
    ts: Tensor  # when the follower adopted


def first_actions(actions: Actions) -> Actions:
    """Each (user, item) pair once, at its earliest time."""
    n_items = int(actions.item.max()) + 1 if actions.item.numel() else 1
    key = actions.user * n_items + actions.item
    order = torch.argsort(actions.ts, stable=True)
    key, ts = key[order], actions.ts[order]
    unique, inverse = torch.unique(key, return_inverse=True)
    first = torch.full((unique.numel(),), torch.iinfo(torch.long).max, dtype=torch.long)
    first.scatter_reduce_(0, inverse, ts, reduce="amin")
    return Actions(unique // n_items, unique % n_items, first)


def adoptions(
    actions: Actions,
    follow_src: Tensor,
    follow_dst: Tensor,
    n_users: int,
    *,
    window_ms: int,
    chunk: int = 2_000_000,
) -> Adoptions:
    """Every (followee -> follower, item) adoption: the follower's first action on the item
    comes after the followee's, by at most ``window_ms``."""
    first = first_actions(actions)
    n_items = int(first.item.max()) + 1 if first.item.numel() else 1
    keys = first.user * n_items + first.item  # sorted (torch.unique sorted them)
    # followees of each user, as CSR over the follower
    order = torch.argsort(follow_src, stable=True)
    followees = follow_dst[order]
    counts = torch.bincount(follow_src[order], minlength=n_users)
    starts = torch.cumsum(counts, 0) - counts
    parts: list[tuple[Tensor, Tensor, Tensor, Tensor]] = []
    for lo in range(0, first.user.numel(), chunk):
        f, item, t = (
            first.user[lo : lo + chunk],
            first.item[lo : lo + chunk],
            first.ts[lo : lo + chunk],
        )
        deg = counts[f]
        rep = torch.repeat_interleave(torch.arange(f.numel()), deg)
        offset = torch.arange(rep.numel()) - torch.repeat_interleave(
            torch.cumsum(deg, 0) - deg, deg
        )
        u = followees[starts[f[rep]] + offset]
        probe = u * n_items + item[rep]
        pos = torch.searchsorted(keys, probe).clamp(max=max(keys.numel() - 1, 0))
        found = keys[pos] == probe if keys.numel() else torch.zeros_like(probe, dtype=torch.bool)
        t_u = first.ts[pos]
        lag = t[rep] - t_u
        ok = found & (lag > 0) & (lag <= window_ms)
        parts.append((u[ok], f[rep][ok], item[rep][ok], t[rep][ok]))
    if not parts:
        empty = torch.empty(0, dtype=torch.long)
        return Adoptions(empty, empty, empty, empty)
    return Adoptions(*(torch.cat(p) for p in zip(*parts, strict=True)))


def influence_counts(adopted: Adoptions, n_users: int, after: int, until: int) -> Tensor:
    """Adoptions each user triggered with the follower's adoption in ``(after, until]``."""
    keep = (adopted.ts > after) & (adopted.ts <= until)
    return torch.bincount(adopted.influencer[keep], minlength=n_users).to(torch.float32)
