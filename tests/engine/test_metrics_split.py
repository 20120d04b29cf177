"""Ranking metrics with hand-computed answers, and the per-user split."""

from __future__ import annotations

import math

import pytest
import torch

from engine.evaluation.metrics import rank_metrics, sample_users
from engine.evaluation.split import split_per_user


def test_recall_and_ndcg_by_hand() -> None:
    # One user; item scores 3 > 2 > 1 > 0 for items 0..3. Item 0 is excluded (training).
    user = torch.tensor([[1.0]])
    items = torch.tensor([[3.0], [2.0], [1.0], [0.0]])
    target = torch.tensor([[0, 0], [2, 3]])  # wants items 2 and 3
    exclude = [torch.tensor([[0], [0]])]
    got = rank_metrics(user, items, target, exclude, k=2)
    # top-2 after excluding item 0: items 1, 2 -> one hit of two wanted.
    assert got["recall@2"] == pytest.approx(0.5)
    ideal = 1 + 1 / math.log2(3)
    assert got["ndcg@2"] == pytest.approx((1 / math.log2(3)) / ideal)
    assert got["users"] == 1


def test_users_without_targets_are_not_averaged() -> None:
    user = torch.eye(2)
    items = torch.eye(2)
    got = rank_metrics(user, items, torch.tensor([[0], [0]]), [], k=1)
    assert got["recall@1"] == 1.0 and got["users"] == 1


def test_small_blocks_rank_as_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks capped by catalogue size (down to a user at a time) give the same figures."""
    g = torch.Generator().manual_seed(8)
    users, items = torch.randn(40, 4, generator=g), torch.randn(30, 4, generator=g)
    pairs = torch.stack(
        [torch.randint(0, 40, (300,), generator=g), torch.randint(0, 30, (300,), generator=g)]
    )
    target, exclude = pairs[:, :100], [pairs[:, 100:]]
    whole = rank_metrics(users, items, target, exclude, k=5)
    for cap in (30 * 7, 1):  # seven users a block; one
        monkeypatch.setattr("engine.evaluation.metrics.MAX_BLOCK", cap)
        assert rank_metrics(users, items, target, exclude, k=5) == pytest.approx(whole)
    # the exclusion matters here: without it the figures differ (the test can fail)
    assert rank_metrics(users, items, target, [], k=5) != pytest.approx(whole)


def test_split_per_user_follows_the_protocol() -> None:
    user = torch.repeat_interleave(torch.arange(3), torch.tensor([50, 4, 20]))
    item = torch.cat([torch.arange(50), torch.arange(4), torch.arange(20)])
    split = split_per_user(user, item, seed=3)
    per_user = [
        (
            int((split.train[0] == u).sum()),
            int((split.valid[0] == u).sum()),
            int((split.test[0] == u).sum()),
        )
        for u in range(3)
    ]
    assert per_user == [(40, 5, 5), (4, 0, 0), (16, 2, 2)]
    everything = torch.cat([split.train, split.valid, split.test], dim=1)
    assert everything.size(1) == 74 and torch.unique(everything, dim=1).size(1) == 74
    again = split_per_user(user, item, seed=3)
    assert torch.equal(again.test, split.test)
    assert not torch.equal(split_per_user(user, item, seed=4).test, split.test)


def test_rank_metrics_with_fewer_items_than_k() -> None:
    """A catalogue (or a category set) smaller than k is ranked whole, not an error."""
    from engine.evaluation.metrics import rank_metrics

    users, items = torch.eye(2), torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    target = torch.tensor([[0, 1], [0, 2]])
    metrics = rank_metrics(users, items, target, [], k=10)
    assert metrics["recall@10"] == 1.0 and metrics["users"] == 2.0
    assert metrics["ndcg@10"] < 1.0  # user 1's item ranks second


def test_validation_past_the_cap_is_a_seeded_sample_of_the_users() -> None:
    g = torch.Generator().manual_seed(3)
    users, items = torch.randn(300, 8, generator=g), torch.randn(40, 8, generator=g)
    target = torch.stack([torch.arange(300), torch.randint(0, 40, (300,), generator=g)])
    full = rank_metrics(users, items, target, [], k=5)
    assert rank_metrics(users, items, target, [], k=5, max_users=300) == full
    sampled = rank_metrics(users, items, target, [], k=5, max_users=100)
    assert sampled["users"] == 100
    assert sampled == rank_metrics(users, items, target, [], k=5, max_users=100)  # seeded
    picked = sample_users(torch.arange(300), 100)
    assert picked.numel() == 100 and bool((picked[1:] > picked[:-1]).all())
    # the sample's recall is the full recall of exactly those users
    keep = torch.isin(target[0], picked)
    local = torch.stack([torch.searchsorted(picked, target[0, keep]), target[1, keep]])
    alone = rank_metrics(users[picked], items, local, [], k=5)
    assert sampled["recall@5"] == pytest.approx(alone["recall@5"])
