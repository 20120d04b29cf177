"""Sparse propagation with a symmetric adjacency: ``A @ X`` whose backward is ``A @ grad``.

LightGCN-style models multiply the same normalised adjacency many times per step. For a
symmetric ``A`` the gradient of ``A @ X`` with respect to ``X`` is ``A^T @ grad = A @ grad``,
so the backward pass reuses the forward CSR matrix instead of building a transpose (what
autograd through ``torch.sparse.mm`` would do). The adjacency is a constant (no gradient).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


def trusted_sparse() -> torch.sparse.check_sparse_tensor_invariants:
    """A block whose sparse tensors skip torch's invariant checks (ours are valid by
    construction, see ``engine.models.adjacency``). Scoped to the block, never process-wide; torch
    warns
    when the choice is left implicit."""
    return torch.sparse.check_sparse_tensor_invariants(enable=False)


class _SymmetricSpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, adj: Tensor, x: Tensor) -> Tensor:
        ctx.save_for_backward(adj)
        with trusted_sparse():
            return adj @ x

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, Tensor]:
        (adj,) = ctx.saved_tensors
        with trusted_sparse():
            return None, adj @ grad


def symmetric_spmm(adj: Tensor, x: Tensor) -> Tensor:
    """``adj @ x`` for a symmetric sparse CSR ``adj`` [N, N] and dense ``x`` [N, F]."""
    return _SymmetricSpMM.apply(adj, x)
