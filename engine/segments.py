"""Segments: k-means on the (L2-normalised) user embeddings, seeded k-means++ start."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def kmeans(x: Tensor, k: int, *, iterations: int = 50, seed: int = 0) -> tuple[Tensor, Tensor]:
    """(cluster index per row [N], centres [k, F]); deterministic under ``seed``."""
    x = F.normalize(x.float(), dim=1)
    k = max(1, min(k, x.size(0)))
    g = torch.Generator().manual_seed(seed)
    centres = x[torch.randint(0, x.size(0), (1,), generator=g)]
    while centres.size(0) < k:  # k-means++: far points are likelier starts
        d2 = torch.cdist(x, centres).min(1).values.pow(2)
        pick = torch.multinomial(d2 + 1e-12, 1, generator=g) if d2.sum() > 0 else torch.zeros(1)
        centres = torch.cat([centres, x[pick.long()]])
    labels = torch.zeros(x.size(0), dtype=torch.long)
    for _ in range(iterations):
        new = torch.cdist(x, centres).argmin(1)
        if torch.equal(new, labels) and _ > 0:
            break
        labels = new
        sums = torch.zeros_like(centres).index_add_(0, labels, x)
        counts = torch.bincount(labels, minlength=k)[:, None]
        centres = torch.where(counts > 0, sums / counts.clamp(min=1), centres)
    return labels, centres


def assign(x: Tensor, centres: Tensor) -> Tensor:
    """Nearest of fixed centres: an incremental refresh keeps the full run's segments."""
    return torch.cdist(F.normalize(x.float(), dim=1), centres).argmin(1)
