"""Per-user random train/validation/test split of user-item pairs (the published protocol)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from engine.interactions import unique_pairs


@dataclass
class Split:
    """Each part holds (user, item) index pairs: ``Tensor [2, E]``."""

    train: Tensor
    valid: Tensor
    test: Tensor


def split_per_user(
    user: Tensor, item: Tensor, *, valid: float = 0.1, test: float = 0.1, seed: int = 0
) -> Split:
    """Shuffle each user's distinct items; ``round(n*test)`` to test, ``round(n*valid)`` to
    validation, the rest to training (a 50-item user gets 40/5/5; one with 1-4 items keeps all
    of them in training)."""
    pairs = unique_pairs(user, item)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(pairs.size(1), generator=generator)
    pairs = pairs[:, order]
    by_user = torch.argsort(pairs[0], stable=True)  # random order within each user
    pairs = pairs[:, by_user]
    counts = torch.bincount(pairs[0])
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(pairs.size(1)) - starts[pairs[0]]
    n = counts[pairs[0]].to(torch.float64)
    n_test = torch.round(n * test)
    n_valid = torch.round(n * valid)
    is_test = rank < n_test
    is_valid = ~is_test & (rank < n_test + n_valid)
    is_train = ~is_test & ~is_valid
    return Split(train=pairs[:, is_train], valid=pairs[:, is_valid], test=pairs[:, is_test])
