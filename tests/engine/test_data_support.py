"""A dimension the data cannot support is null with its reason, gathered per run."""

from __future__ import annotations

import math

import torch

from engine.dimensions.next_steps import NextConfig
from engine.models.next_behaviour import SequenceConfig
from engine.models.train import TrainConfig
from engine.pipeline import PipelineConfig, run_full
from graph.datasets.synthetic import SyntheticConfig, generate, to_snapshot

CONFIG = PipelineConfig(
    train=TrainConfig(embedding_dim=8, num_layers=1, max_epochs=1, device="cpu"),
    next=NextConfig(sequence=SequenceConfig(max_epochs=1, device="cpu")),
)


def test_a_short_shop_without_follows_gets_nulls_with_reasons_not_confident_numbers() -> None:
    """Three weeks of a shop with no follows: every influence method would score Spearman 0
    (a meaningless rank was written), a 13-week forecast and a year's CLV would be
    extrapolated from three weeks, churn has not two horizons to learn from."""
    snapshot = to_snapshot(generate(SyntheticConfig(n_users=300, n_items=80, horizon_days=21)))
    follows = snapshot.edges[("user", "FOLLOWS", "user")]
    snapshot.edges[("user", "FOLLOWS", "user")] = follows.select(
        torch.zeros(len(follows), dtype=torch.bool)
    )
    result = run_full(snapshot, CONFIG, run_id="short")
    support = result.metrics["support"]
    assert not support["follows"]["supported"] and "no follows" in support["follows"]["reason"]
    assert not support["influence"]["supported"] and "no follows" in support["influence"]["reason"]
    assert (
        not support["forecasts"]["supported"]
        and "weeks of history" in support["forecasts"]["reason"]
    )
    assert not support["churn"]["supported"]
    assert support["amounts"]["supported"] and support["timestamps"]["supported"]
    p = result.profiles
    assert all(math.isnan(v) for v in p.influence.tolist())
    assert bool(torch.isnan(p.influence_rank.float()).all())
    assert all(v is None or v != v for v in p.clv) and all(
        v is None or v != v for v in p.churn_probability
    )


def test_a_stage_and_a_churn_probability_that_disagree_say_why() -> None:
    """Held-out data showed "at risk" beside churn 0.016 and P(active) 0.957 with no word of
    why: the stage's rule (quiet over twice the usual gap) and the model read different things."""
    from engine.dimensions.customer_profile import stage_note

    note = stage_note("at risk", 0.957, 0.016, 40.0, 12.0)
    assert "over twice their usual gap of 12" in note and "only 2%" in note
    assert "under 70 %" in stage_note("at risk", 0.5, 0.1, 3.0, 12.0)
    assert "churn model gives 90%" in stage_note("active", 0.9, 0.9, 1.0, 10.0)
    assert stage_note("at risk", 0.5, 0.6, 3.0, 12.0) == ""  # they agree
    assert stage_note("at risk", 0.5, float("nan"), 3.0, 12.0) == ""  # no churn figure
