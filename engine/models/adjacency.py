"""The normalised bipartite (+ social) adjacency LightGCN propagates over.

Nodes are users ``0..U-1`` followed by items ``U..U+I-1``. Entries: one per observed
user-item pair in both directions and, optionally, one per social tie in both directions;
weights are ``1/sqrt(deg(i) deg(j))`` (LightGCN's symmetric normalisation). The result is a
symmetric sparse CSR tensor, which :func:`engine.models.propagation.symmetric_spmm` relies on.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from engine.models.propagation import trusted_sparse


def normalized_adjacency(
    user: Tensor,
    item: Tensor,
    num_users: int,
    num_items: int,
    social: tuple[Tensor, Tensor] | None = None,
    device: torch.device | str = "cpu",
) -> Tensor:
    """Symmetric ``D^-1/2 A D^-1/2`` as CSR.

    Args:
        user (LongTensor): user index of each interaction [E].
        item (LongTensor): item index of each interaction [E] (duplicates are merged).
        num_users (int), num_items (int): node counts.
        social ((LongTensor, LongTensor), optional): user-user ties; direction is ignored.

    Shapes:
        output: sparse CSR [U + I, U + I]
    """
    n = num_users + num_items
    rows = [user, item + num_users]
    cols = [item + num_users, user]
    if social is not None:
        a, b = social
        keep = a != b
        rows += [a[keep], b[keep]]
        cols += [b[keep], a[keep]]
    row, col = torch.cat(rows), torch.cat(cols)
    key = torch.unique(row * n + col)  # merge duplicates: the graph is unweighted
    row, col = key // n, key % n
    degree = torch.bincount(row, minlength=n).clamp(min=1).to(torch.float32)
    inv_sqrt = degree.pow(-0.5)
    values = inv_sqrt[row] * inv_sqrt[col]
    # unique() sorted the keys, so entries are already in CSR (row-major) order.
    crow = torch.zeros(n + 1, dtype=torch.long)
    crow[1:] = torch.cumsum(torch.bincount(row, minlength=n), 0)
    with warnings.catch_warnings():  # "sparse CSR is beta": known, and relied on deliberately
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        with trusted_sparse():  # valid by construction (sorted unique keys)
            return torch.sparse_csr_tensor(crow, col, values, (n, n)).to(device)
