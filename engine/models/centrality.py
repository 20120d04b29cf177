"""PageRank, ArticleRank and follower counts on the follow graph: the influence baselines.

Edges point from follower to followee (``src`` follows ``dst``), so rank flows to the people
being followed. Power iteration on a sparse matrix in torch; the figures match networkx's
``pagerank`` (a test checks it) and GDS's ``articleRank`` definition.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _iterate(
    src: Tensor, dst: Tensor, n: int, share: Tensor, damping: float, iterations: int, tol: float
) -> Tensor:
    dangling = torch.bincount(src, minlength=n) == 0
    rank = torch.full((n,), 1.0 / n, dtype=torch.float64)
    for _ in range(iterations):
        spread = torch.zeros(n, dtype=torch.float64).index_add_(0, dst, rank[src] * share)
        leak = rank[dangling].sum() / n
        new = (1 - damping) / n + damping * (spread + leak)
        if (new - rank).abs().sum() < n * tol:
            return new
        rank = new
    return rank


def pagerank(
    src: Tensor,
    dst: Tensor,
    n: int,
    *,
    damping: float = 0.85,
    iterations: int = 100,
    tol: float = 1e-10,
) -> Tensor:
    """PageRank with dangling nodes' rank spread uniformly (networkx's convention)."""
    out_degree = torch.bincount(src, minlength=n).clamp(min=1).to(torch.float64)
    return _iterate(src, dst, n, 1.0 / out_degree[src], damping, iterations, tol)


def articlerank(
    src: Tensor,
    dst: Tensor,
    n: int,
    *,
    damping: float = 0.85,
    iterations: int = 100,
    tol: float = 1e-10,
) -> Tensor:
    """ArticleRank: PageRank whose contributions are divided by ``out_degree + mean out_degree``,
    so endorsements from prolific followers count for less."""
    out_degree = torch.bincount(src, minlength=n).to(torch.float64)
    mean = out_degree[out_degree > 0].mean() if bool((out_degree > 0).any()) else 1.0
    return _iterate(src, dst, n, 1.0 / (out_degree[src] + mean), damping, iterations, tol)


def follower_count(dst: Tensor, n: int) -> Tensor:
    return torch.bincount(dst, minlength=n).to(torch.float64)
