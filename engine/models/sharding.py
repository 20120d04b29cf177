"""LightGCN's adjacency and embedding split by rows across the ranks of a torch.distributed group.

With ``W`` ranks, rank ``r`` owns a contiguous block of ``ceil(N / W)`` node rows (users then
items, padded at the end): its rows of the normalised adjacency, its rows of the layer-0
embedding and their optimiser state. One layer of propagation is

    x_full = all_gather(x_local)          # every rank's block, [W * block, F]
    x_local = A[rows_r, :] @ x_full       # this rank's rows of the next layer

so a rank stores ``nnz / W`` of the adjacency, and the gradient of ``x_full`` (``A[rows_r, :]^T
@ grad``) flows back to each block's owner through the gather's backward (a reduce-scatter).
:func:`engine.models.train.train_lightgcn` trains with these when it is given a :class:`World`;
:mod:`engine.models.distributed` starts the ranks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import Tensor, nn

from engine.models.propagation import trusted_sparse


@dataclass(frozen=True)
class RowBlocks:
    """Which node rows each rank owns: rank ``r`` holds ``start(r) .. start(r) + size``
    (the last block padded past ``num_nodes``)."""

    num_nodes: int
    world_size: int

    @property
    def size(self) -> int:
        return -(-self.num_nodes // self.world_size)

    def start(self, rank: int) -> int:
        return rank * self.size

    def rows(self, rank: int) -> range:
        """The real (unpadded) rows of ``rank``."""
        return range(
            min(self.start(rank), self.num_nodes), min(self.start(rank + 1), self.num_nodes)
        )


def row_block(adj: Tensor, blocks: RowBlocks, rank: int) -> tuple[Tensor, Tensor]:
    """Rank ``rank``'s rows of a CSR adjacency [N, N] as (block, transpose): the block
    [size, W * size] maps the gathered layer to this rank's rows, its transpose (CSR too)
    carries the gradient back. Padded rows and columns are empty."""
    crow, col, val = adj.crow_indices(), adj.col_indices(), adj.values()
    rows = blocks.rows(rank)
    lo, hi = int(crow[rows.start]), int(crow[rows.stop])
    local_crow = crow[rows.start : rows.stop + 1] - lo
    pad = blocks.size - len(rows)
    if pad:
        local_crow = torch.cat([local_crow, local_crow[-1:].expand(pad)])
    width = blocks.size * blocks.world_size
    with trusted_sparse():
        block = torch.sparse_csr_tensor(local_crow, col[lo:hi], val[lo:hi], (blocks.size, width))
        transpose = block.to_sparse_coo().t().coalesce().to_sparse_csr()
    return block, transpose


class _BlockSpMM(torch.autograd.Function):
    """``block @ x_full`` whose backward is ``transpose @ grad`` (the block is a constant)."""

    @staticmethod
    def forward(ctx: Any, block: Tensor, transpose: Tensor, x: Tensor) -> Tensor:
        ctx.save_for_backward(transpose)
        with trusted_sparse():
            return block @ x

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, None, Tensor]:
        (transpose,) = ctx.saved_tensors
        with trusted_sparse():
            return None, None, transpose @ grad


class ShardedLightGCN(nn.Module):
    """One rank's part of :class:`engine.models.lightgcn.LightGCN`: its block of layer-0 embeddings.

    ``get_embedding(adj)`` (``adj`` the pair :func:`row_block` returns) gives the full final
    embedding [N, F] on every rank, differentiable with respect to every rank's block; the
    same interface as LightGCN's, so :func:`engine.models.train.bpr_step` and the metrics use it as
    is.
    """

    alpha: Tensor

    def __init__(
        self,
        num_users: int,
        num_items: int,
        blocks: RowBlocks,
        rank: int,
        embedding_dim: int = 64,
        num_layers: int = 3,
        *,
        init: Tensor,
    ) -> None:
        super().__init__()
        self.num_users, self.num_items = num_users, num_items
        self.blocks, self.rank = blocks, rank
        self.embedding_dim, self.num_layers = embedding_dim, num_layers
        rows = blocks.rows(rank)  # init: the whole layer-0 embedding [N, F], the same on all ranks
        local = torch.zeros(blocks.size, embedding_dim)
        local[: len(rows)] = init[rows.start : rows.stop]
        self.embedding = nn.Embedding.from_pretrained(local, freeze=False)
        self.register_buffer("alpha", torch.full((num_layers + 1,), 1.0 / (num_layers + 1)))
        self._ego: Tensor | None = None

    def _gather(self, local: Tensor, *, padded: bool = False) -> Tensor:
        """Every rank's block, in rank order [N, F] (``padded``: with the last block's padding
        rows, which the block products read)."""
        full = torch.cat(dist_fn.all_gather(local))
        return full if padded else full[: self.num_users + self.num_items]

    def get_embedding(self, adj: tuple[Tensor, Tensor]) -> Tensor:
        block, transpose = adj
        x = self.embedding.weight
        out = x * self.alpha[0]
        x_full = self._gather(x, padded=True)
        self._ego = x_full[: self.num_users + self.num_items]
        for layer in range(self.num_layers):
            x = _BlockSpMM.apply(block, transpose, x_full)
            out = out + x * self.alpha[layer + 1]
            if layer + 1 < self.num_layers:
                x_full = self._gather(x, padded=True)
        return self._gather(out)

    def ego_embedding(self) -> Tensor:
        """The full layer-0 embedding as gathered by the last ``get_embedding`` (the L2 term
        reads it; gathering again would cost a collective)."""
        if self._ego is None:
            raise RuntimeError("get_embedding has not run yet")
        return self._ego

    def split(self, embedding: Tensor) -> tuple[Tensor, Tensor]:
        return embedding[: self.num_users], embedding[self.num_users :]

    def full_weight(self) -> Tensor:
        """The whole layer-0 embedding [N, F] (a collective: every rank calls it)."""
        with torch.no_grad():
            return self._gather(self.embedding.weight.detach())


@dataclass(frozen=True)
class World:
    """This process's place in the group: its rank, the group size and its device."""

    rank: int
    size: int
    device: torch.device

    def share(self, batch: int) -> slice:
        """The part of a batch of ``batch`` triples this rank scores."""
        bounds = [batch * r // self.size for r in range(self.size + 1)]
        return slice(bounds[self.rank], bounds[self.rank + 1])


def current_world() -> World:
    """The initialised process group as a :class:`World` (one CUDA device per rank under
    NCCL, the CPU under gloo)."""
    rank, size = dist.get_rank(), dist.get_world_size()
    if dist.get_backend() == "nccl":
        local = int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count()
        torch.cuda.set_device(local)
        return World(rank, size, torch.device("cuda", local))
    return World(rank, size, torch.device("cpu"))
