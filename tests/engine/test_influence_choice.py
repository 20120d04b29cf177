"""A run ships the influence model only where it beats every baseline on validation data."""

from __future__ import annotations

import pytest
import torch

import engine.influence_choice as choice_module
from engine.adoptions import DAY_MS, Actions, adoptions
from engine.centrality import pagerank
from engine.influence import predict_influence
from engine.influence_choice import choose_influence, on_count_scale
from graph.datasets.synthetic import SyntheticConfig, generate


def test_count_scale_keeps_order_and_ties_and_takes_the_reference_levels() -> None:
    score = torch.tensor([0.3, 5.0, 0.3, 2.0, 1.0])
    reference = torch.tensor([0.0, 0.0, 1.0, 4.0, 9.0])
    mapped = on_count_scale(score, reference)
    assert mapped[0] == mapped[2]  # tied scores stay tied
    order = torch.argsort(score[[0, 4, 3, 1]])
    assert torch.equal(torch.argsort(mapped[[0, 4, 3, 1]]), order)
    assert float(mapped[1]) == 9.0 and float(mapped[3]) == 4.0  # top ranks take top levels
    assert 0.0 <= float(mapped.min()) <= 1.0


@pytest.fixture(scope="module")
def shop():  # type: ignore[no-untyped-def]
    data = generate(SyntheticConfig(n_users=800, n_items=200, seed=3))
    actions = Actions(
        torch.from_numpy(data.user), torch.from_numpy(data.item), torch.from_numpy(data.ts)
    )
    src, dst = torch.from_numpy(data.follow_src), torch.from_numpy(data.follow_dst)
    at, lo = int(actions.ts.max()), int(actions.ts.min())
    window = 14 * DAY_MS
    return (
        actions,
        src,
        dst,
        at,
        (at - lo) // 5,
        window,
        adoptions(actions, src, dst, 800, window_ms=window),
    )


def test_the_method_with_the_best_validation_spearman_ships(shop) -> None:  # type: ignore[no-untyped-def]
    actions, src, dst, at, horizon, window, adopted = shop
    chosen = choose_influence(
        actions, src, dst, 800, at=at, horizon_ms=horizon, window_ms=window, adopted=adopted
    )
    valid = chosen.validation
    assert set(valid) == {"model", "past_adoptions", "pagerank", "articlerank", "degree"}
    best = max(valid.values(), key=lambda m: m["spearman"])["spearman"]
    assert valid[chosen.shipped]["spearman"] == best
    if chosen.shipped == "model":
        expected = predict_influence(
            actions, src, dst, 800, at=at, horizon_ms=horizon, adopted=adopted
        )
        assert torch.allclose(chosen.score, expected)


def test_a_baseline_that_wins_validation_ships_on_the_count_scale(
    shop,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    actions, src, dst, at, horizon, window, adopted = shop
    table = {
        name: {"spearman": value}
        for name, value in [("model", 0.2), ("pagerank", 0.4), ("degree", 0.3)]
    }
    monkeypatch.setattr(choice_module, "evaluate_influence", lambda *a, **k: table)
    chosen = choose_influence(
        actions, src, dst, 800, at=at, horizon_ms=horizon, window_ms=window, adopted=adopted
    )
    assert chosen.shipped == "pagerank"
    rank = pagerank(src, dst, 800)
    in_rank_order = chosen.score[torch.argsort(rank)]
    assert bool((in_rank_order.diff() >= 0).all())  # PageRank's order, kept
    assert int(torch.argmax(chosen.score)) == int(torch.argmax(rank))
    # on the scale of adoptions: no larger than the most any user triggered in the last horizon
    recent = adopted.ts > at - horizon
    most = int(torch.bincount(adopted.influencer[recent], minlength=800).max())
    assert float(chosen.score.max()) == most


def test_too_short_a_history_ships_the_model_without_validation(shop) -> None:  # type: ignore[no-untyped-def]
    actions, src, dst, at, _, window, adopted = shop
    span = at - int(actions.ts.min())
    chosen = choose_influence(
        actions, src, dst, 800, at=at, horizon_ms=span, window_ms=window, adopted=adopted
    )
    assert chosen.shipped == "model" and chosen.validation == {}
