"""Ranker scores over a whole catalogue, standardised and summed without a block per ranker.

The rankers behind the recommendation lists score a user's item as a dot product plus a few
sparse terms: the item ranking's ``user · item``; the sequence model's ``state · item + bias``
plus its repeat terms on the items already in the user's sequence. :func:`standardised_scores`
gives, per row, the sum over rankers of each ranker's row-standardised score (what
:func:`engine.dimensions.recommendations.standardised_sum` computes from dense blocks) with one
matrix
product for all rankers: each ranker's row mean and standard deviation come in closed form
from its items' sum and Gram matrix (float64) and the sparse terms, so the only [B, I] work is
the product itself, on the device the queries are on. Items a ranker has no vector for
(``known`` False, e.g. items newer than the sequence model) read its row mean: standardised 0,
no opinion either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class ItemSide:
    """A ranker's item vectors [I, F] (zero rows where not ``known``) and their moments."""

    vectors: Tensor
    known: Tensor  # [I] bool
    total: Tensor  # [F] float64: the known vectors' sum
    gram: Tensor  # [F, F] float64: their Gram matrix

    @classmethod
    def of(cls, vectors: Tensor, known: Tensor | None = None) -> ItemSide:
        known = torch.ones(vectors.size(0), dtype=torch.bool) if known is None else known
        vectors = torch.where(known.unsqueeze(1), vectors.float(), 0.0)
        wide = vectors.double()
        return cls(vectors, known, wide.sum(0), wide.T @ wide)

    @property
    def count(self) -> int:
        return int(self.known.sum())

    def to(self, device: torch.device) -> ItemSide:
        return ItemSide(*(t.to(device) for t in (self.vectors, self.known, self.total, self.gram)))


@dataclass(frozen=True)
class RankerBlock:
    """One ranker's scores for a block of rows: ``query`` [B, F] · the item vectors, plus the
    sparse ``extra`` (row, item, value) on known items, each (row, item) at most once."""

    items: ItemSide
    query: Tensor
    extra: tuple[Tensor, Tensor, Tensor] | None = None

    def dense(self) -> Tensor:
        """[B, I] the raw scores (unknown items: the row's mean), for references and tests."""
        out = self.query.float() @ self.items.vectors.T
        if self.extra is not None:
            row, item, value = self.extra
            out.index_put_((row, item), value.float(), accumulate=True)
        mean, _ = self.moments()
        return torch.where(self.items.known.unsqueeze(0), out, mean.float().unsqueeze(1))

    def moments(self) -> tuple[Tensor, Tensor]:
        """[B] float64 mean and (unbiased) standard deviation of each row over known items."""
        n = max(self.items.count, 1)
        q = self.query.double()
        s1 = q @ self.items.total
        s2 = ((q @ self.items.gram) * q).sum(1)
        if self.extra is not None:
            row, item, value = self.extra
            value = value.double()
            base = (q[row] * self.items.vectors[item].double()).sum(1)
            s1 = s1.index_add(0, row, value)
            s2 = s2.index_add(0, row, 2 * base * value + value * value)
        var = (s2 - s1 * s1 / n) / max(n - 1, 1)
        return s1 / n, var.clamp_min(0).sqrt()


def standardised_scores(blocks: list[RankerBlock]) -> Tensor:
    """[B, I] float32: per row, the sum over ``blocks`` of each ranker's standardised score."""
    queries, vectors, extras = [], [], []
    device = blocks[0].query.device
    offset = torch.zeros(blocks[0].query.size(0), dtype=torch.float64, device=device)
    for block in blocks:
        mean, std = block.moments()
        std = std.clamp_min(1e-9)
        offset -= mean / std
        queries.append(block.query.double() / std.unsqueeze(1))
        vectors.append(block.items.vectors)
        if not bool(block.items.known.all()):  # unknown items read the mean: z = 0
            queries.append((mean / std).unsqueeze(1))
            vectors.append((~block.items.known).float().unsqueeze(1))
        if block.extra is not None:
            row, item, value = block.extra
            extras.append((row, item, value.double() / std[row]))
    queries.append(offset.unsqueeze(1))
    vectors.append(torch.ones(vectors[0].size(0), 1, device=device))
    out = torch.cat(queries, dim=1).float() @ torch.cat(vectors, dim=1).T
    for row, item, value in extras:
        out.index_put_((row, item), value.float(), accumulate=True)
    return out
