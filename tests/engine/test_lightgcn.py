"""LightGCN, BPR and the trainer on toy graphs."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from engine.models.adjacency import normalized_adjacency
from engine.models.lightgcn import LightGCN
from engine.models.losses import BPRLoss
from engine.models.train import (
    TrainConfig,
    bpr_step,
    hardest_negatives,
    make_optimizer,
    sample_triples,
    train_lightgcn,
)


def test_shapes_and_repr() -> None:
    model = LightGCN(3, 2, embedding_dim=8, num_layers=2)
    adj = normalized_adjacency(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 1]), 3, 2)
    assert model.get_embedding(adj).size() == (5, 8)
    assert model(adj, torch.tensor([0, 2]), torch.tensor([1, 0])).size() == (2,)
    assert str(model) == "LightGCN(3 users, 2 items, dim=8, layers=2)"
    assert str(BPRLoss(1e-3)) == "BPRLoss(weight_decay=0.001)"


@pytest.mark.parametrize("num_layers", [0, 1, 3])
def test_layer_zero_is_the_plain_embedding(num_layers: int) -> None:
    model = LightGCN(2, 2, embedding_dim=4, num_layers=num_layers)
    adj = normalized_adjacency(torch.tensor([0, 1]), torch.tensor([0, 1]), 2, 2)
    out = model.get_embedding(adj)
    if num_layers == 0:
        assert torch.allclose(out, model.embedding.weight)
    else:
        assert not torch.allclose(out, model.embedding.weight)


def test_reset_parameters_reinitialises() -> None:
    torch.manual_seed(0)
    model = LightGCN(4, 4, embedding_dim=4)
    before = model.embedding.weight.detach().clone()
    model.reset_parameters()
    assert not torch.allclose(before, model.embedding.weight)


def test_bpr_prefers_positives() -> None:
    loss = BPRLoss(0.0)
    assert loss(torch.tensor([3.0]), torch.tensor([-3.0])) < loss(
        torch.tensor([0.0]), torch.tensor([0.0])
    )


def _two_tastes(n: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    """Users 0..n/2 like items 0..9, the others items 10..19; hold one item per user out."""
    users, items = [], []
    for u in range(n):
        base = 0 if u < n // 2 else 10
        for i in range(base, base + 10):
            users.append(u)
            items.append(i)
    pairs = torch.tensor([users, items])
    held = torch.arange(pairs.size(1)) % 10 == (torch.arange(pairs.size(1)) // 10) % 10
    return pairs[:, ~held], pairs[:, held]


def test_training_learns_tastes_and_is_deterministic() -> None:
    train, valid = _two_tastes()
    config = TrainConfig(
        embedding_dim=16,
        num_layers=2,
        lr=0.05,
        batch_size=128,
        max_epochs=30,
        patience=30,
        k=5,
        seed=1,
        device="cpu",
    )
    first = train_lightgcn(train, valid, 40, 20, config=config)
    second = train_lightgcn(train, valid, 40, 20, config=config)
    assert first.best_valid["recall@5"] > 0.8  # random would give 5/20 = 0.25 at best
    assert first.history[-1]["loss"] < first.history[0]["loss"]
    assert first.best_valid == second.best_valid
    assert torch.equal(first.model.embedding.weight, second.model.embedding.weight)
    assert first.messages_per_s > 0


def test_several_negatives_per_positive() -> None:
    pairs = torch.tensor([[0, 1, 2], [5, 6, 7]])
    generator = torch.Generator().manual_seed(0)
    users, pos, neg = sample_triples(pairs, 50, 4, generator, negatives=3)
    assert users.shape == pos.shape == neg.shape == (12,)
    # each drawn (user, positive) pair is repeated once per negative, and is an observed pair
    assert torch.equal(users.view(4, 3), users.view(4, 3)[:, :1].expand(4, 3))
    assert torch.equal(pos.view(4, 3), pos.view(4, 3)[:, :1].expand(4, 3))
    assert all(
        (int(u), int(p)) in {(0, 5), (1, 6), (2, 7)} for u, p in zip(users, pos, strict=True)
    )
    assert int(neg.min()) >= 0 and int(neg.max()) < 50

    train, valid = _two_tastes()
    config = TrainConfig(
        embedding_dim=16,
        num_layers=2,
        lr=0.05,
        batch_size=128,
        max_epochs=30,
        patience=30,
        k=5,
        seed=1,
        device="cpu",
        negatives=4,
    )
    assert train_lightgcn(train, valid, 40, 20, config=config).best_valid["recall@5"] > 0.8


def test_hard_negative_is_the_best_scored_candidate(monkeypatch: pytest.MonkeyPatch) -> None:
    """With candidates, the loss sees the candidate the model currently ranks highest."""
    pairs = torch.tensor([[0, 1, 2], [5, 6, 7]])
    generator = torch.Generator().manual_seed(0)
    users, pos, neg = sample_triples(pairs, 50, 4, generator, negatives=2, candidates=6)
    assert users.shape == pos.shape == (8,) and neg.shape == (8, 6)

    model = LightGCN(10, 50, embedding_dim=8, num_layers=1)
    adj = normalized_adjacency(pairs[0], pairs[1], 10, 50)
    seen: list[torch.Tensor] = []
    real_forward = BPRLoss.forward

    def spy(self: BPRLoss, pos_s: torch.Tensor, neg_s: torch.Tensor, *params: torch.Tensor):
        seen.append(neg_s.detach())
        return real_forward(self, pos_s, neg_s, *params)

    monkeypatch.setattr(BPRLoss, "forward", spy)
    with torch.no_grad():
        user_emb, item_emb = model.split(model.get_embedding(adj))
        expected = torch.einsum("bd,bmd->bm", user_emb[users], item_emb[neg]).max(1).values
    optimizer = make_optimizer(model, 1e-3)
    bpr_step(model, adj, optimizer, BPRLoss(), users, pos, neg)
    assert torch.allclose(seen[0], expected)
    # a uniform draw (one candidate) scores lower on average than the hardest of six
    uniform = torch.einsum("bd,bd->b", user_emb[users], item_emb[neg[:, 0]])
    assert float(uniform.mean()) < float(expected.mean())


def test_hardest_negatives_in_chunks_are_the_hardest_of_all() -> None:
    g = torch.Generator().manual_seed(4)
    users, items = torch.randn(50, 8, generator=g), torch.randn(30, 8, generator=g)
    candidates = torch.randint(0, 30, (50, 6), generator=g)
    scores = torch.einsum("bd,bmd->bm", users, items[candidates])
    expected = candidates.gather(1, scores.argmax(1, keepdim=True)).squeeze(1)
    for chunk in (7, 50, 1000):  # ragged last chunk, one chunk, fewer triples than a chunk
        assert torch.equal(hardest_negatives(users, items, candidates, chunk=chunk), expected)
    assert hardest_negatives(users[:0], items, candidates[:0]).shape == (0,)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("negative_candidates", 0),
        ("negatives", 0),
        ("batch_size", 0),
        ("lr", 0.0),
        ("weight_decay", -1.0),
        ("num_layers", -1),
    ],
)
def test_config_names_the_bad_setting(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"{field}.*{value}|{field}={value}"):
        TrainConfig(**{field: value})


def test_batch_grows_past_the_step_cap() -> None:
    """Each step propagates the whole graph: a big graph gets bigger batches, not more steps."""
    train, valid = _two_tastes()
    n = train.size(1)
    config = TrainConfig(
        embedding_dim=16,
        num_layers=2,
        lr=0.05,
        batch_size=8,
        max_epochs=30,
        patience=30,
        k=5,
        seed=1,
        device="cpu",
        max_steps_per_epoch=3,
    )
    capped = train_lightgcn(train, valid, 40, 20, config=config)
    assert capped.batch_size == -(-n // 3) > 8 and capped.steps_per_epoch == n // capped.batch_size
    assert capped.best_valid["recall@5"] > 0.8
    roomy = train_lightgcn(train, valid, 40, 20, config=replace(config, max_steps_per_epoch=10_000))
    assert roomy.batch_size == 8 and roomy.steps_per_epoch == n // 8


def test_a_time_budget_ends_training_and_every_epoch_reports_an_eta() -> None:
    """No epoch starts past the budget, the best state so far is kept, and each epoch's record
    says how long the rest would take."""
    train, valid = _two_tastes()
    config = TrainConfig(
        embedding_dim=8,
        num_layers=1,
        batch_size=64,
        max_epochs=100_000,
        patience=100_000,
        device="cpu",
        time_budget_s=1.0,
    )
    seen: list[dict[str, float]] = []
    result = train_lightgcn(train, valid, 40, 20, config=config, on_epoch=seen.append)
    assert result.seconds < 10 and len(result.history) < 100_000
    assert result.history[-1].get("stopped_by_budget") == 1.0
    assert all(0 <= r["eta_s"] <= 1.0 for r in seen)  # within the budget's remainder
    unbounded = TrainConfig(**{**config.__dict__, "time_budget_s": None, "max_epochs": 3})
    first = train_lightgcn(train, valid, 40, 20, config=unbounded).history[0]
    assert first["eta_s"] > 0 and "stopped_by_budget" not in first


def test_the_estimate_comes_before_the_first_epoch_ends_and_bounds_the_training() -> None:
    train, valid = _two_tastes()
    config = TrainConfig(
        embedding_dim=8, num_layers=1, batch_size=64, max_epochs=3, patience=100, device="cpu"
    )
    heard: list[tuple[str, float]] = []
    result = train_lightgcn(
        train,
        valid,
        40,
        20,
        config=config,
        on_epoch=lambda r: heard.append(("epoch", r["epoch"])),
        on_estimate=lambda s: heard.append(("estimate", s)),
    )
    assert heard[0][0] == "estimate" and [h[0] for h in heard].count("estimate") == 1
    assert heard[0][1] > 0 and len(result.history) == 3
    budgeted = TrainConfig(**{**config.__dict__, "max_epochs": 10**6, "time_budget_s": 2.0})
    estimates: list[float] = []
    train_lightgcn(
        train, valid, 40, 20, config=replace(budgeted, max_epochs=1), on_estimate=estimates.append
    )
    capped: list[float] = []
    train_lightgcn(
        train, valid, 40, 20, config=replace(budgeted, patience=1), on_estimate=capped.append
    )
    assert estimates[0] < 2.0 and capped == [2.0]  # never more than the budget
