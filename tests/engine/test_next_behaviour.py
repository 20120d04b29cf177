"""The sequence model: order, repeats, the friends' mix, determinism; the action log."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from engine.models import next_behaviour
from engine.models.next_behaviour import (
    SequenceConfig,
    _counts_through,
    _last_state,
    _top_items,
    friend_category_mix,
    gap_buckets,
    item_scores,
    predict_next,
    train_next_behaviour,
)
from engine.sequences import build_sequences
from engine.snapshot import ActionLog, EdgeSet, Snapshot

HOUR = 3_600_000
FAST = SequenceConfig(dim=32, max_epochs=60, patience=8, lr=1e-2, device="cpu", dropout=0.0)


def _log(rows: list[tuple[int, int, int, int, int]]) -> ActionLog:
    user, item, kind, ts, category = (torch.tensor(c) for c in zip(*rows, strict=True))
    return ActionLog.build(user, item, kind, ts, category, ["PURCHASED", "VIEWED"])


def test_sequences_keep_each_users_latest_actions_left_aligned() -> None:
    # user 1's actions arrive out of order; user 0 has more than fit
    log = _log(
        [(1, 5, 0, 30 * HOUR, 2), (0, 1, 1, 1 * HOUR, 0), (1, 4, 1, 10 * HOUR, 1)]
        + [(0, i, 1, (i + 2) * HOUR, 0) for i in range(2, 6)]
    )
    seq = build_sequences(log, log.category, num_users=3, length=3)
    assert seq.length.tolist() == [3, 2, 0]
    assert seq.item.tolist() == [[4, 5, 6], [5, 6, 0], [0, 0, 0]]  # ids + 1, latest last
    assert seq.category[1].tolist() == [2, 3, 0]
    assert seq.last(seq.item).tolist() == [6, 6, 0]
    assert seq.gaps_hours()[1].tolist() == [0.0, 20.0, 0.0]


def test_snapshot_keeps_the_action_log_and_checks_it(tmp_path: Path) -> None:
    log = _log([(0, 1, 0, 5, -1), (1, 0, 1, 7, 0)])
    empty = EdgeSet(
        *(torch.zeros(0, dtype=torch.long) for _ in range(2)),
        torch.zeros(0),
        torch.zeros(0, dtype=torch.long),
        torch.zeros(0, dtype=torch.long),
    )
    snap = Snapshot(
        node_ids={"user": ["a", "b"], "item": ["x", "y"], "category": ["c"]},
        edges={("user", "VIEWED", "item"): empty},
        watermark=1,
        taken_at=0.0,
        selection={},
        actions=log,
    )
    snap.validate()
    loaded = Snapshot.load(snap.save(tmp_path / "s.pt"))
    assert loaded.actions is not None
    assert loaded.actions.item.tolist() == [1, 0] and loaded.actions.kinds == log.kinds
    snap.actions = replace(log, item=torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="actions: 'item' must lie in \\[0, 2\\)"):
        snap.validate()
    snap.actions = replace(log, user=torch.tensor([1, 0]))
    with pytest.raises(ValueError, match="sorted by user, then time"):
        snap.validate()


def _cycling_users(n_users: int, n_categories: int, length: int) -> ActionLog:
    """Each user walks the categories in order from a random start: the next category is the
    one after the latest, which no frequency count can see."""
    g = torch.Generator().manual_seed(0)
    rows = []
    for u in range(n_users):
        start = int(torch.randint(n_categories, (1,), generator=g))
        for t in range(length):
            c = (start + t) % n_categories
            rows.append((u, c * 3 + t % 3, t % 2, (t + 1) * HOUR, c))
    return _log(rows)


def test_the_model_learns_the_order_of_actions() -> None:
    n_c = 8
    log = _cycling_users(200, n_c, 12)
    seq = build_sequences(log, log.category, 200, 20)
    trained = train_next_behaviour(
        seq, None, num_items=3 * n_c, num_categories=n_c, num_kinds=2, config=FAST
    )
    pred = predict_next(trained, seq, None)
    expected = (seq.last(seq.category) - 1 + 1) % n_c
    top1 = pred.category_probs.argmax(1)
    assert (top1 == expected).double().mean() > 0.9
    # the next kind alternates too, and an hour passes between actions
    kind_expected = 1 - (seq.last(seq.kind) - 1)
    assert (pred.kind_probs.argmax(1) == kind_expected).double().mean() > 0.9
    assert torch.allclose(pred.hours_to_next, torch.ones(200, dtype=torch.float64), atol=0.5)
    # the most frequent category is every category equally: frequency cannot do this
    assert trained.best_valid > 0.5


def test_friends_mix_predicts_the_next_category_of_users_with_short_histories() -> None:
    """Groups of users act mostly in their group's category and follow each other; 'short'
    users have two actions in other categories and belong to a group too. Only their friends
    (whom they follow) say which."""
    n_c, g = 10, torch.Generator().manual_seed(1)
    rows, follows, short = [], [], []
    u = 0
    for group in range(n_c):
        members = list(range(u, u + 20))
        for v in members:
            for t in range(15):
                c = (
                    group
                    if float(torch.rand(1, generator=g)) < 0.6
                    else int(torch.randint(n_c, (1,), generator=g))
                )
                rows.append((v, c * 4 + t % 4, 0, (t + 1) * HOUR, c))
            follows += [(v, w) for w in members[:6] if w != v]
        u += 20
        for _ in range(10):
            others = [c for c in range(n_c) if c != group]
            picks = torch.randperm(len(others), generator=g)[:2].tolist()
            rows += [(u, others[p] * 4, 0, (t + 1) * HOUR, others[p]) for t, p in enumerate(picks)]
            follows += [(u, v) for v in members[:5]]
            short.append((u, group))
            u += 1
    log = _log(rows)
    seq = build_sequences(log, log.category, u, 20)
    ties = (torch.tensor([f[0] for f in follows]), torch.tensor([f[1] for f in follows]))
    mix = friend_category_mix(seq, ties, n_c, k=4)
    users = torch.tensor([s[0] for s in short])
    target = torch.tensor([s[1] for s in short])
    hit = {}
    for social in (False, True):
        trained = train_next_behaviour(
            seq,
            mix if social else None,
            num_items=4 * n_c,
            num_categories=n_c,
            num_kinds=1,
            config=replace(FAST, social=social),
        )
        pred = predict_next(trained, seq, mix if social else None)
        hit[social] = float((pred.category_probs[users].argmax(1) == target).double().mean())
    assert hit[True] > 0.6
    assert hit[False] < 0.3


def test_training_is_deterministic_under_a_seed() -> None:
    log = _cycling_users(40, 5, 6)
    seq = build_sequences(log, log.category, 40, 10)
    config = replace(FAST, max_epochs=3)
    runs = [
        train_next_behaviour(seq, None, num_items=15, num_categories=5, num_kinds=2, config=config)
        for _ in range(2)
    ]
    a, b = (predict_next(r, seq, None).category_probs for r in runs)
    assert torch.equal(a, b)
    scores = item_scores(runs[0], seq, None, torch.arange(40))
    assert scores.shape == (40, 15) and bool(torch.isfinite(scores).all())


def test_training_needs_a_user_with_two_actions() -> None:
    seq = build_sequences(_log([(0, 0, 0, 1, 0)]), torch.tensor([0]), 1, 5)
    with pytest.raises(ValueError, match="at least two actions"):
        train_next_behaviour(seq, None, num_items=1, num_categories=1, num_kinds=2, config=FAST)


def test_held_out_item_ranking_matches_the_dense_scores(monkeypatch: pytest.MonkeyPatch) -> None:
    """The held-out next-item top 10 is ranked in slices of rows with the repeat terms added
    sparsely: it must equal ranking the dense [users, items] scores (every item's dot product
    and bias, plus the repeat bonus from dense counts and latest-item columns)."""
    log = _cycling_users(30, 5, 9)
    seq = build_sequences(log, log.category, 30, 10)
    trained = train_next_behaviour(
        seq, None, num_items=15, num_categories=5, num_kinds=2, config=replace(FAST, max_epochs=2)
    )
    model = trained.model.eval()
    rows = torch.arange(30)
    at = seq.length - 2
    inputs = (seq.item, seq.category, seq.kind, gap_buckets(seq))
    with torch.no_grad():
        state = _last_state(model, inputs, rows, at)
        counts, latest = _counts_through(seq.item, at, model.num_items)
        dense = state @ model.item.weight[1:].T + model.item_bias
        dense = dense + model.repeat_bonus(state, counts, latest)
        assert float(model.repeat_bonus(state, counts, latest).abs().sum()) > 0  # repeats count
        monkeypatch.setattr(next_behaviour, "ITEM_BLOCK_FLOATS", 15 * 4)  # slices of 4 rows
        sliced = _top_items(model, state, seq.item, at, 10)
    assert torch.equal(sliced, dense.topk(10, dim=1).indices)


def test_the_friends_mix_is_the_same_in_blocks_of_followers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The mix is computed a block of followers at a time (a million users' product would not
    fit at once): blocks of 7 must give each user what one block of all gives."""
    log = _cycling_users(60, 6, 8)
    seq = build_sequences(log, log.category, 60, 10)
    g = torch.Generator().manual_seed(3)
    src, dst = torch.randint(60, (400,), generator=g), torch.randint(60, (400,), generator=g)
    whole = friend_category_mix(seq, (src, dst), 6, k=3)
    assert int((whole.category > 0).sum()) > 60 and bool((whole.share.sum(1) > 0.99).any())
    monkeypatch.setattr(next_behaviour, "MIX_BLOCK", 7)
    blocks = friend_category_mix(seq, (src, dst), 6, k=3)
    assert torch.equal(blocks.category, whole.category)
    assert torch.allclose(blocks.share, whole.share, atol=1e-7)


def test_the_ship_check_is_judged_on_users_that_did_not_choose_the_epoch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Early stopping picks the epoch on held-out last actions; the check that decides whether
    the model's next categories ship must score other users' last actions, or the epoch chosen
    for those very users makes the model look better than it is."""
    log = _cycling_users(40, 5, 6)
    seq = build_sequences(log, log.category, 40, 10)
    judged: list[set[int]] = []
    real = next_behaviour._held_out_ndcg

    def recording(model, inputs, length, users, *args, **kwargs):  # type: ignore[no-untyped-def]
        judged.append(set(users.tolist()))
        return real(model, inputs, length, users, *args, **kwargs)

    monkeypatch.setattr(next_behaviour, "_held_out_ndcg", recording)
    trained = train_next_behaviour(
        seq, None, num_items=15, num_categories=5, num_kinds=2, config=replace(FAST, max_epochs=2)
    )
    stopping = judged[-1]
    next_behaviour.held_out_category_ndcg(trained, seq, None)
    checking = judged[-1]
    assert stopping and checking and not stopping & checking
    assert stopping | checking == set(torch.nonzero(seq.length >= 2).flatten().tolist())
