"""A run ships the influence model only where it beats every baseline on validation data:
significantly (a paired bootstrap over users), or a tie ships the simpler baseline; where the
data cannot support influence, it is null with the reason."""

from __future__ import annotations

import pytest
import torch

import engine.dimensions.influence_choice as choice_module
from engine.dimensions.adoptions import DAY_MS, Actions, adoptions
from engine.dimensions.influence_choice import choose_influence, on_count_scale
from engine.graph_as_of import GraphAsOf
from engine.models.centrality import pagerank
from engine.models.influence import predict_influence
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


def test_the_model_ships_only_where_its_interval_lies_above_the_best_baseline(shop) -> None:  # type: ignore[no-untyped-def]
    actions, src, dst, at, horizon, window, adopted = shop
    chosen = choose_influence(
        GraphAsOf(actions, src, dst, 800, adopted), at=at, horizon_ms=horizon, window_ms=window
    )
    valid = chosen.validation
    assert set(valid) == {"model", "past_adoptions", "pagerank", "articlerank", "degree"}
    c = chosen.comparison
    assert c is not None
    baselines = {n: m["spearman"] for n, m in valid.items() if n != "model"}
    assert c["baseline"] == max(baselines, key=baselines.__getitem__)
    assert c["low"] <= c["high"]
    assert chosen.shipped == ("model" if c["low"] > 0 else c["baseline"])
    if chosen.shipped == "model":
        expected = predict_influence(
            GraphAsOf(actions, src, dst, 800, adopted), at=at, horizon_ms=horizon
        )
        assert torch.allclose(chosen.score, expected)


def test_a_baseline_that_wins_validation_ships_on_the_count_scale(
    shop,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    actions, src, dst, at, horizon, window, adopted = shop
    future = torch.arange(800.0)
    noise = torch.randn(800, generator=torch.Generator().manual_seed(0))
    methods = {  # the truth, seen more or less clearly: PageRank best
        "model": future + 400 * noise,
        "pagerank": future + 50 * noise,
        "degree": future + 200 * noise,
    }
    monkeypatch.setattr(choice_module, "influence_scores", lambda *a, **k: (methods, future))
    chosen = choose_influence(
        GraphAsOf(actions, src, dst, 800, adopted), at=at, horizon_ms=horizon, window_ms=window
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


def test_too_short_a_history_ships_the_model_and_says_it_was_not_validated(shop) -> None:  # type: ignore[no-untyped-def]
    actions, src, dst, at, _, window, adopted = shop
    span = at - int(actions.ts.min())
    chosen = choose_influence(
        GraphAsOf(actions, src, dst, 800, adopted), at=at, horizon_ms=span, window_ms=window
    )
    assert chosen.shipped.startswith("model (not validated") and chosen.validation == {}


def test_a_model_no_better_than_a_baseline_ties_and_the_baseline_ships(
    shop,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    """The model's validation Spearman a hair above PageRank's (one pair of users in 800 put
    in the right order) is a tie, not a win: PageRank, the simpler method, ships."""
    actions, src, dst, at, horizon, window, adopted = shop
    future = torch.arange(800.0)
    noise = torch.randn(800, generator=torch.Generator().manual_seed(1))
    base = future + 300 * noise
    model = base.clone()
    wrong = int(torch.nonzero(base[:-1] > base[1:])[0])  # neighbours in the truth, misordered
    model[wrong], model[wrong + 1] = base[wrong + 1], base[wrong]  # put right
    methods = {"model": model, "pagerank": base, "degree": future + 600 * noise}
    monkeypatch.setattr(choice_module, "influence_scores", lambda *a, **k: (methods, future))
    chosen = choose_influence(
        GraphAsOf(actions, src, dst, 800, adopted), at=at, horizon_ms=horizon, window_ms=window
    )
    assert chosen.validation["model"]["spearman"] > chosen.validation["pagerank"]["spearman"]
    assert chosen.comparison is not None and chosen.comparison["verdict"] == "ties with"
    assert chosen.shipped == "pagerank"


def test_without_follows_influence_is_null_with_the_reason(shop) -> None:  # type: ignore[no-untyped-def]
    """No follows: every method scores Spearman 0; a rank written from that means nothing."""
    actions, _, _, at, horizon, window, _ = shop
    none = torch.empty(0, dtype=torch.long)
    nobody = adoptions(actions, none, none, 800, window_ms=window)
    chosen = choose_influence(
        GraphAsOf(actions, none, none, 800, nobody), at=at, horizon_ms=horizon, window_ms=window
    )
    assert chosen.shipped == "none" and chosen.reason and chosen.reason.startswith("no follows")
    assert bool(chosen.score.isnan().all()) and not chosen.supported
