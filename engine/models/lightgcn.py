"""LightGCN over a user-item (+ social) graph, propagating with a plain CSR SpMM."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from engine.models.propagation import symmetric_spmm


class LightGCN(nn.Module):
    r"""LightGCN from `"LightGCN: Simplifying and Powering Graph Convolution Network for
    Recommendation" <https://arxiv.org/abs/2002.02126>`_.

    .. math::
        \mathbf{E}^{(l+1)} = \hat{\mathbf{A}} \mathbf{E}^{(l)}, \qquad
        \mathbf{E} = \sum_{l=0}^{L} \alpha_l \mathbf{E}^{(l)}, \qquad
        \hat{y}_{ui} = \mathbf{e}_u^\top \mathbf{e}_i

    with :math:`\hat{\mathbf{A}} = \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}` the normalised
    adjacency of users then items (see :func:`engine.models.adjacency.normalized_adjacency`), which
    may
    include social user-user ties, and :math:`\alpha_l = 1/(L+1)`.

    Args:
        num_users (int): number of users :math:`U`.
        num_items (int): number of items :math:`I`.
        embedding_dim (int, optional): embedding size :math:`F`. (default: :obj:`64`)
        num_layers (int, optional): propagation steps :math:`L`. (default: :obj:`3`)

    Shapes:
        - **get_embedding:** adjacency :math:`(U+I, U+I)` sparse CSR
          :math:`\rightarrow` :math:`(U+I, F)`
        - **forward:** users :math:`(B)`, items :math:`(B)` :math:`\rightarrow` scores :math:`(B)`
    """

    alpha: Tensor

    def __init__(
        self, num_users: int, num_items: int, embedding_dim: int = 64, num_layers: int = 3
    ) -> None:
        super().__init__()
        self.num_users = num_users
        self.num_items = num_items
        self.embedding_dim = embedding_dim
        self.num_layers = num_layers
        self.embedding = nn.Embedding(num_users + num_items, embedding_dim)
        self.register_buffer("alpha", torch.full((num_layers + 1,), 1.0 / (num_layers + 1)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=0.1)

    def get_embedding(self, adj: Tensor) -> Tensor:
        x = self.embedding.weight
        out = x * self.alpha[0]
        for layer in range(self.num_layers):
            x = symmetric_spmm(adj, x)
            out = out + x * self.alpha[layer + 1]
        return out

    def ego_embedding(self) -> Tensor:
        """The layer-0 embedding [U + I, F] (what the L2 term of BPR reads)."""
        return self.embedding.weight

    def split(self, embedding: Tensor) -> tuple[Tensor, Tensor]:
        """(user rows, item rows) of a full embedding matrix."""
        return embedding[: self.num_users], embedding[self.num_users :]

    def forward(self, adj: Tensor, users: Tensor, items: Tensor) -> Tensor:
        user_emb, item_emb = self.split(self.get_embedding(adj))
        return (user_emb[users] * item_emb[items]).sum(dim=-1)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.num_users} users, {self.num_items} items, "
            f"dim={self.embedding_dim}, layers={self.num_layers})"
        )
