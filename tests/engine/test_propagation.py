"""Adjacency normalisation and the symmetric SpMM, on toy graphs."""

from __future__ import annotations

import pytest
import torch

from engine.models.adjacency import normalized_adjacency
from engine.models.propagation import symmetric_spmm

USER = torch.tensor([0, 0, 1, 2, 2])
ITEM = torch.tensor([0, 1, 1, 0, 0])  # (2, 0) twice: merged


def test_adjacency_is_symmetric_and_normalised() -> None:
    adj = normalized_adjacency(USER, ITEM, 3, 2).to_dense()
    assert adj.size() == (5, 5)
    assert torch.allclose(adj, adj.T)
    degree = (adj > 0).sum(1).to(torch.float32)
    expected = (adj > 0) / torch.sqrt(degree[:, None] * degree[None, :])
    assert torch.allclose(adj, expected)
    assert float(adj[0, 3]) == pytest.approx(0.5)  # user 0 (degree 2) - item 0 (degree 2)


def test_social_ties_are_added_both_ways_without_self_loops() -> None:
    social = (torch.tensor([0, 1, 1]), torch.tensor([1, 0, 1]))
    adj = normalized_adjacency(USER, ITEM, 3, 2, social=social).to_dense()
    assert adj[0, 1] > 0 and adj[1, 0] > 0 and adj[1, 1] == 0
    assert torch.allclose(adj, adj.T)


def test_symmetric_spmm_matches_dense_autograd() -> None:
    torch.manual_seed(0)
    adj = normalized_adjacency(USER, ITEM, 3, 2)
    x = torch.randn(5, 4, requires_grad=True)
    y = x.detach().clone().requires_grad_()
    out = symmetric_spmm(adj, x)
    (out * out).sum().backward()
    ref = adj.to_dense() @ y
    (ref * ref).sum().backward()
    assert torch.allclose(out, ref)
    assert x.grad is not None and y.grad is not None
    assert torch.allclose(x.grad, y.grad, atol=1e-6)
