"""Pull training inputs out of a Snapshot: user-item pairs and user-user ties."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from engine.adoptions import Actions
from engine.snapshot import Snapshot


def interaction_pairs(snapshot: Snapshot, relations: Sequence[str] | None = None) -> Tensor:
    """Distinct (user, item) pairs [2, E] over the given interaction relations (default: all)."""
    parts = [
        torch.stack([edges.src, edges.dst])
        for (src, rel, dst), edges in snapshot.edges.items()
        if src == "user" and dst == "item" and (relations is None or rel in relations)
    ]
    if not parts:
        return torch.empty(2, 0, dtype=torch.long)
    both = torch.cat(parts, dim=1)
    return unique_pairs(both[0], both[1])


def unique_pairs(row: Tensor, col: Tensor) -> Tensor:
    """[2, P] the distinct (row, col) pairs of non-negative indices, sorted by row then col, as
    ``torch.unique(torch.stack([row, col]), dim=1)`` gives them, through one int64 key a pair
    (a fraction of the memory and time of ``unique(dim=1)``'s sort: 22M actions at 1M users)."""
    if not row.numel():
        return torch.empty(2, 0, dtype=torch.long)
    width = int(col.max()) + 1
    key = torch.unique(row.long() * width + col.long())
    return torch.stack([torch.div(key, width, rounding_mode="floor"), key % width])


def social_ties(snapshot: Snapshot) -> tuple[Tensor, Tensor]:
    edges = snapshot.edges.get(("user", "FOLLOWS", "user"))
    if edges is None:
        empty = torch.empty(0, dtype=torch.long)
        return empty, empty
    return edges.src, edges.dst


def timed_actions(snapshot: Snapshot) -> Actions:
    """Every user-item interaction that has a timestamp (the adoptions influence is read from)."""
    users, items, ts = [], [], []
    for (src, _rel, dst), edges in snapshot.edges.items():
        if src == "user" and dst == "item":
            known = edges.ts >= 0
            users.append(edges.src[known])
            items.append(edges.dst[known])
            ts.append(edges.ts[known])
    empty = torch.empty(0, dtype=torch.long)
    if not users:
        return Actions(empty, empty, empty)
    return Actions(torch.cat(users), torch.cat(items), torch.cat(ts))


def last_action_times(actions: Actions, num_users: int) -> Tensor:
    """Each user's latest action time [U] (-1 where the user has no timestamped action)."""
    latest = torch.full((num_users,), -1, dtype=torch.long)
    return latest.scatter_reduce(0, actions.user, actions.ts, reduce="amax")


def primary_category(snapshot: Snapshot) -> Tensor:
    """[I] each item's first category (-1 if none)."""
    n_items = snapshot.num_nodes("item")
    primary = torch.full((n_items,), -1, dtype=torch.long)
    links = snapshot.edges.get(("item", "IN_CATEGORY", "category"))
    if links is not None and len(links):
        order = torch.argsort(links.src, stable=True).flip(0)  # the first edge is written last
        primary[links.src[order]] = links.dst[order]
    return primary
