"""Churn: features see only the past, labels are what happened, and on a shop where churn
spreads through follows the graph features find what behaviour alone cannot."""

from __future__ import annotations

import pytest
import torch

from engine.dimensions.adoptions import DAY_MS, Actions
from engine.dimensions.churn import (
    BEHAVIOUR,
    EMBEDDING,
    PROPAGATED,
    SOCIAL,
    churn_features,
    churned_after,
)
from engine.evaluation.churn_evaluation import evaluate_churn
from engine.evaluation.probability_metrics import auc, brier, reliability
from engine.graph_as_of import GraphAsOf
from graph.datasets.synthetic import SyntheticConfig, generate

H = 91 * DAY_MS


def test_auc_brier_and_reliability_on_known_cases() -> None:
    label = torch.tensor([0, 0, 1, 1])
    assert auc(torch.tensor([0.1, 0.2, 0.8, 0.9]), label) == 1.0
    assert auc(torch.tensor([0.9, 0.8, 0.2, 0.1]), label) == 0.0
    assert auc(torch.tensor([0.5, 0.5, 0.5, 0.5]), label) == 0.5
    assert brier(torch.tensor([0.0, 0.0, 1.0, 1.0]), label) == 0.0
    rows = reliability(torch.tensor([0.05, 0.05, 0.95, 0.95]), label)
    assert [(r["observed"], r["count"]) for r in rows] == [(0.0, 2.0), (1.0, 2.0)]


def _toy() -> tuple[Actions, torch.Tensor, torch.Tensor]:
    # user 0 acts every week for a year; user 1 stops after 20 weeks; user 2 follows both
    times = (
        [(0, w) for w in range(52)]
        + [(1, w) for w in range(20)]
        + [(2, w) for w in range(0, 52, 4)]
    )
    user = torch.tensor([u for u, _ in times])
    item = torch.tensor([(3 * u + w) % 5 if u < 2 else (w // 4) % 2 for u, w in times])
    ts = torch.tensor([w * 7 * DAY_MS for _, w in times])
    return Actions(user, item, ts), torch.tensor([2, 2]), torch.tensor([0, 1])


def test_features_use_only_the_past_and_labels_only_the_future() -> None:
    actions, src, dst = _toy()
    at = 40 * 7 * DAY_MS
    features = churn_features(GraphAsOf(actions, src, dst, 3), at=at, horizon_ms=H)
    n_features = len(BEHAVIOUR) + len(SOCIAL) + len(PROPAGATED) + len(EMBEDDING)
    assert features.values.shape == (3, n_features)
    # user 2's one-hop propagated recency is the mean of its two followees' own
    hop = len(BEHAVIOUR) + len(SOCIAL)
    assert torch.allclose(features.values[2, hop], features.values[:2, 0].mean().double())
    # whatever happens after the cut changes nothing known at it
    later = Actions(  # (a new item among them: the embedding's item vectors stay put)
        torch.cat([actions.user, torch.tensor([1, 1])]),
        torch.cat([actions.item, torch.tensor([0, 70_000])]),
        torch.cat([actions.ts, torch.tensor([at + DAY_MS, at + 2 * DAY_MS])]),
    )
    again = churn_features(GraphAsOf(later, src, dst, 3), at=at, horizon_ms=H)
    assert torch.equal(features.values, again.values)
    # the interaction embedding: a user's own items place them (users 0 and 2 differ)
    embedded = features.values[:, -len(EMBEDDING) :]
    assert not torch.allclose(embedded[0], embedded[2]) and bool(embedded.abs().sum() > 0)
    assert features.at_risk.tolist() == [True, False, True]  # user 1 silent for 10 weeks...
    share = features.values[2, len(BEHAVIOUR) + SOCIAL.index("followees_active_share")]
    assert float(share) == 0.5  # of user 2's followees, user 0 is active and user 1 is not
    assert churned_after(actions, 3, at, H).tolist() == [False, True, False]


@pytest.fixture(scope="module")
def contagious_shop():  # type: ignore[no-untyped-def]
    return generate(
        SyntheticConfig(
            n_users=1500,
            n_items=300,
            seed=1,
            horizon_days=540,
            mean_interactions=80,
            churn_per_year=0.25,
            churn_contagion=8.0,
        )
    )


def test_planted_churn_spreads_through_follows(contagious_shop) -> None:  # type: ignore[no-untyped-def]
    d = contagious_shop
    churned = d.churn_ts < 2**62
    assert 0.3 < churned.mean() < 0.95
    assert (d.ts < d.churn_ts[d.user]).all()  # nobody acts after churning
    # users whose followees churned early churn more
    src, dst = torch.from_numpy(d.follow_src), torch.from_numpy(d.follow_dst)
    mid = int(d.ts.min()) + 180 * DAY_MS
    gone_early = torch.from_numpy(d.churn_ts < mid)
    share = torch.zeros(1500, dtype=torch.float64).index_add_(0, src, gone_early[dst].double())
    share /= torch.bincount(src, minlength=1500).clamp(min=1)
    alive = ~gone_early
    high = alive & (share >= 0.5)
    low = alive & (share < 0.1)
    later = torch.from_numpy(d.churn_ts < mid + 180 * DAY_MS)
    assert float(later[high].float().mean()) > 1.5 * float(later[low].float().mean())


def test_the_graph_finds_the_churn_behaviour_cannot(contagious_shop) -> None:  # type: ignore[no-untyped-def]
    d = contagious_shop
    actions = Actions(*(torch.from_numpy(v) for v in (d.user, d.item, d.ts)))
    lo, hi = int(actions.ts.min()), int(actions.ts.max())
    cuts = [lo + int((hi - lo) * q) for q in (0.5, 0.6, 0.7, 0.8)]
    result = evaluate_churn(
        GraphAsOf(actions, torch.from_numpy(d.follow_src), torch.from_numpy(d.follow_dst), 1500),
        cuts=cuts,
        horizon_ms=H,
        window_ms=14 * DAY_MS,
        follow_ts=torch.from_numpy(d.follow_ts),
        planted=torch.from_numpy(d.churn_ts),
    )
    summary = result["summary"]
    assert len(result["rows"]) == 4 and all(r["at_risk"] > 500 for r in result["rows"])
    assert summary["behaviour+graph"]["auc_planted"] > summary["behaviour"]["auc_planted"] + 0.01
    assert summary["behaviour+graph"]["auc"] > 0.85  # and it still ranks the observed churn
    assert summary["graph_gain"]["auc_planted"] > 0
    # calibrated: small expected calibration error, no well-filled bin far off (the churn rate
    # rises over time here, so a model trained on the horizon before runs a little low)
    assert result["calibration_error"] < 0.06
    assert all(
        abs(b["predicted"] - b["observed"]) < 0.15
        for b in result["reliability"]
        if b["count"] >= 200
    )


def test_a_learnt_model_survives_its_round_trip_through_json(contagious_shop) -> None:  # type: ignore[no-untyped-def]
    import json

    from engine.dimensions.churn import ChurnModel, predict_churn

    d = contagious_shop
    actions = Actions(*(torch.from_numpy(v) for v in (d.user, d.item, d.ts)))
    src, dst = torch.from_numpy(d.follow_src), torch.from_numpy(d.follow_dst)
    at = int(actions.ts.min()) + 300 * DAY_MS
    learnt, _, model = predict_churn(GraphAsOf(actions, src, dst, 1500), at=at, horizon_ms=H)
    assert model is not None
    again = ChurnModel.from_dict(json.loads(json.dumps(model.to_dict())))
    reused, _, _ = predict_churn(
        GraphAsOf(actions, src, dst, 1500), at=at, horizon_ms=H, model=again
    )
    assert torch.allclose(learnt, reused)
