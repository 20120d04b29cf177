"""Row-partitioned LightGCN training across processes (gloo on CPU) against one process."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from engine.models.adjacency import normalized_adjacency
from engine.models.distributed import fit_lightgcn, train_on_ranks
from engine.models.sharding import RowBlocks, row_block
from engine.models.train import TrainConfig, train_lightgcn

USERS, ITEMS = 70, 33  # 103 nodes: 2 and 3 ranks both pad the last block


def _graph(seed: int = 3) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    pairs = torch.unique(
        torch.stack(
            [
                torch.randint(0, USERS, (600,), generator=g),
                torch.randint(0, ITEMS, (600,), generator=g),
            ]
        ),
        dim=1,
    )
    pick = torch.randperm(pairs.size(1), generator=g)
    valid, train = pairs[:, pick[:60]], pairs[:, pick[60:]]
    social = (
        torch.randint(0, USERS, (80,), generator=g),
        torch.randint(0, USERS, (80,), generator=g),
    )
    return train, valid, social


CONFIG = TrainConfig(
    embedding_dim=16,
    num_layers=3,
    lr=0.01,
    batch_size=128,
    max_steps_per_epoch=4,
    negative_candidates=8,
    max_epochs=6,
    patience=100,
    seed=5,
    device="cpu",
)


def test_row_blocks_cover_the_adjacency_once() -> None:
    train, _, social = _graph()
    adj = normalized_adjacency(train[0], train[1], USERS, ITEMS, social)
    blocks = RowBlocks(USERS + ITEMS, 3)
    x = torch.randn(blocks.size * 3, 4)
    x[USERS + ITEMS :] = 0.0  # padding rows
    parts = [row_block(adj, blocks, r) for r in range(3)]
    stacked = torch.cat([block @ x for block, _ in parts])[: USERS + ITEMS]
    torch.testing.assert_close(stacked, adj @ x[: USERS + ITEMS])
    # the transposes carry each block's gradient back: summed, A^T g = A g (symmetric)
    g = torch.randn(blocks.size * 3, 4)
    g[USERS + ITEMS :] = 0.0
    back = sum(
        t @ g[blocks.start(r) : blocks.start(r) + blocks.size] for r, (_, t) in enumerate(parts)
    )
    torch.testing.assert_close(back[: USERS + ITEMS], adj @ g[: USERS + ITEMS])


@pytest.mark.parametrize("world_size", [2, 3])
def test_ranks_train_what_one_process_trains(world_size: int) -> None:
    """Same seed: the same loss curve, validation and embeddings (to summation order)."""
    train, valid, social = _graph()
    one = train_lightgcn(train, valid, USERS, ITEMS, social=social, config=CONFIG)
    if world_size == 2:  # as a refresh asks for it: TrainConfig.ranks
        many = fit_lightgcn(
            train, valid, USERS, ITEMS, social=social, config=replace(CONFIG, ranks=2)
        )
    else:
        many = train_on_ranks(
            world_size, "gloo", train, valid, USERS, ITEMS, social=social, config=CONFIG
        )
    assert len(many.history) == len(one.history) == CONFIG.max_epochs
    losses = [[h["loss"] for h in r.history] for r in (one, many)]
    assert losses[0][0] > losses[0][-1]  # it learned something, so the curves say something
    torch.testing.assert_close(
        torch.tensor(losses[1]), torch.tensor(losses[0]), rtol=1e-5, atol=1e-6
    )
    assert many.best_epoch == one.best_epoch
    torch.testing.assert_close(
        many.model.embedding.weight, one.model.embedding.weight, rtol=1e-4, atol=1e-5
    )
    assert many.messages_per_s > 0
