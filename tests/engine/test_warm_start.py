"""Warm starts: known nodes keep the previous run's embeddings, new ones start among their known
neighbours, and training from there reaches the cold model's quality in fewer epochs."""

from __future__ import annotations

import random
from dataclasses import replace

import torch

from engine.evaluation.split import split_per_user
from engine.models.train import TrainConfig, train_lightgcn
from engine.models.warm_start import COLD_SCALE, initial_embedding


def test_known_nodes_keep_their_embedding_and_new_ones_start_among_their_neighbours() -> None:
    previous = torch.tensor(
        [[1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [4.0, 0.0]]  # users a, b; items x, y
    )
    pairs = torch.tensor([[0, 2, 2, 1], [0, 0, 1, 2]])  # a-x, c-x, c-y, b-z
    init, counts = initial_embedding(
        previous, ["a", "b"], ["x", "y"], ["a", "b", "c", "d"], ["x", "y", "z"], pairs, dim=2
    )
    assert init is not None
    assert torch.equal(init[0], previous[0]) and torch.equal(init[1], previous[1])
    assert torch.equal(init[4], previous[2]) and torch.equal(init[5], previous[3])
    assert torch.allclose(init[2], torch.tensor([3.0, 1.0]))  # c: the mean of x and y
    assert torch.allclose(init[6], previous[1])  # z: the item of its one known user, b
    assert float(init[3].abs().max()) < 6 * COLD_SCALE  # d: nothing known, a cold start
    assert counts == {"known_users": 2, "known_items": 2, "placed_by_neighbours": 2, "random": 1}
    assert initial_embedding(None, [], [], ["a"], ["x"], pairs[:, :1], dim=2) == (None, {})
    assert initial_embedding(previous, ["a"], [], ["a"], ["x"], pairs[:, :1], dim=3)[0] is None


def _tastes(n_users: int, seed: int) -> torch.Tensor:
    """Ten tastes of 20 items each; each user takes 12 items of their taste, 2 at random."""
    rng = random.Random(seed)
    users, items = [], []
    for u in range(n_users):
        taste = u % 10
        liked = rng.sample(range(taste * 20, taste * 20 + 20), 12) + rng.sample(range(200), 2)
        for i in set(liked):
            users.append(u)
            items.append(i)
    return torch.tensor([users, items])


def _epochs_to(history: list[dict[str, float]], target: float) -> int:
    """The first epoch (1-based) whose validation recall reaches ``target``."""
    for record in history:
        if record.get("valid_recall@10", -1.0) >= target:
            return int(record["epoch"]) + 1
    return len(history) + 1


def test_a_warm_start_reaches_the_cold_models_quality_in_fewer_epochs() -> None:
    pairs = _tastes(400, 0)
    split = split_per_user(pairs[0], pairs[1], valid=0.1, test=0.0, seed=0)
    config = TrainConfig(
        max_epochs=40, patience=40, eval_every=1, lr=5e-3, device="cpu", seed=0, embedding_dim=32
    )
    cold = train_lightgcn(split.train, split.valid, 400, 200, config=config)
    target = 0.99 * cold.best_valid["recall@10"]
    # yesterday's model knew 390 of the users (ten joined since)
    before = split.train[:, split.train[0] < 390]
    yesterday = train_lightgcn(before, before[:, :0], 390, 200, config=config)
    ids = [f"u{u}" for u in range(400)]
    init, counts = initial_embedding(
        yesterday.model.embedding.weight.detach(),
        ids[:390],
        [f"i{i}" for i in range(200)],
        ids,
        [f"i{i}" for i in range(200)],
        split.train,
        dim=32,
    )
    assert counts["known_users"] == 390 and counts["placed_by_neighbours"] == 10
    warm = train_lightgcn(
        split.train, split.valid, 400, 200, config=replace(config, max_epochs=10), init=init
    )
    cold_epochs, warm_epochs = _epochs_to(cold.history, target), _epochs_to(warm.history, target)
    assert warm_epochs <= 3 < cold_epochs, (warm_epochs, cold_epochs)


def test_a_warm_started_run_stops_on_its_own_patience() -> None:
    """``warm_patience`` stops a run given ``init`` after that many epochs without a better
    validation score; a cold run keeps ``patience``."""
    pairs = _tastes(200, 1)
    split = split_per_user(pairs[0], pairs[1], valid=0.1, test=0.0, seed=1)
    config = TrainConfig(
        max_epochs=25, patience=25, warm_patience=1, eval_every=1, device="cpu", embedding_dim=16
    )
    cold = train_lightgcn(split.train, split.valid, 200, 200, config=config)
    assert len(cold.history) == 25  # patience 25 never stops 25 epochs
    warm = train_lightgcn(
        split.train, split.valid, 200, 200, config=config, init=cold.model.embedding.weight
    )
    assert len(warm.history) == warm.best_epoch + 2 < 25  # the first epoch without a better one
