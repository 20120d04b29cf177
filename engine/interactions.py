"""Pull training inputs out of a Snapshot: user-item pairs and user-user ties."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

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
    return torch.unique(torch.cat(parts, dim=1), dim=1)


def social_ties(snapshot: Snapshot) -> tuple[Tensor, Tensor]:
    edges = snapshot.edges.get(("user", "FOLLOWS", "user"))
    if edges is None:
        empty = torch.empty(0, dtype=torch.long)
        return empty, empty
    return edges.src, edges.dst
