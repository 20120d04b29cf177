"""Averaging over a neighbour list with scatter-adds (no sparse tensor): the social
propagation of interests and the influence model's follower aggregation both need it."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class NeighbourMean:
    """``(self @ x)[v]`` is the mean of ``x[w]`` over the edges ``w -> v`` (``source -> target``);
    rows with no edges come out zero."""

    source: Tensor
    target: Tensor
    degree: Tensor

    @classmethod
    def of(cls, source: Tensor, target: Tensor, n: int) -> NeighbourMean:
        degree = torch.bincount(target, minlength=n).to(torch.float32)
        return cls(source, target, degree)

    def __matmul__(self, x: Tensor) -> Tensor:
        out = torch.zeros_like(x).index_add_(0, self.target, x[self.source])
        return out / self.degree.clamp(min=1).view(-1, *([1] * (x.dim() - 1)))
