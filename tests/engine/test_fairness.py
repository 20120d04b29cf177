"""Sensitive groups: never in a default snapshot; where enabled, every metric per group."""

from __future__ import annotations

import torch

from engine.dimensions.adoptions import DAY_MS, Actions
from engine.evaluation.churn_evaluation import evaluate_churn
from engine.evaluation.fairness import PREFIX, encode, members, sensitive_groups
from engine.evaluation.item_ranking import evaluate_item_ranking
from engine.graph_as_of import GraphAsOf
from engine.models.train import TrainConfig
from graph.datasets.synthetic import (
    AGE_BANDS,
    GENDERS,
    SyntheticConfig,
    generate,
    to_snapshot,
    user_attributes,
)
from jobs.report import fairness_section


def test_groups_are_encoded_with_unknowns_apart() -> None:
    codes, labels = encode(["b", "", "a", "b"])
    assert labels == ["a", "b"] and codes.tolist() == [1, -1, 0, 1]


def test_a_default_snapshot_has_no_sensitive_attribute() -> None:
    data = generate(SyntheticConfig(n_users=300, n_items=60, seed=2))
    plain = to_snapshot(data)
    assert sensitive_groups(plain) == {}
    assert not any(k.startswith(PREFIX) for k in plain.node_features.get("user", {}))
    enabled = to_snapshot(data, sensitive=True)
    groups = sensitive_groups(enabled)
    assert set(groups) == {"age_band", "gender"}
    assert set(groups["gender"][1]) <= set(GENDERS) and set(groups["age_band"][1]) <= set(AGE_BANDS)
    # the attributes come from a random stream of their own: the data is the same
    assert torch.equal(plain.actions.item, enabled.actions.item)  # type: ignore[union-attr]
    assert user_attributes(data) == user_attributes(data)


def test_item_ranking_and_churn_per_group() -> None:
    data = generate(
        SyntheticConfig(
            n_users=600,
            n_items=120,
            seed=1,
            horizon_days=360,
            churn_per_year=0.3,
            mean_interactions=40,
        )
    )
    snapshot = to_snapshot(data, sensitive=True)
    groups = sensitive_groups(snapshot)
    pairs = torch.stack([torch.from_numpy(data.user), torch.from_numpy(data.item)]).unique(dim=1)
    report = evaluate_item_ranking(
        pairs,
        600,
        120,
        social=None,
        seeds=[0, 1],
        config=TrainConfig(embedding_dim=8, max_epochs=2, device="cpu", k=10),
        groups=groups,
    )
    summary = report.group_summary()
    expected = {(m, a, g) for m in ("popularity", "lightgcn") for a, g, _ in members(groups)}
    assert {(r["model"], r["attribute"], r["group"]) for r in summary} == expected
    # each group is scored on its own users: per attribute, the groups add up to everyone
    for model in ("popularity", "lightgcn"):
        for attribute in groups:
            users = [
                float(r["users"])
                for r in report.by_group
                if r["model"] == model and r["attribute"] == attribute and r["seed"] == 0
            ]
            overall = [
                float(r["users"]) for r in report.rows if r["model"] == model and r["seed"] == 0
            ]
            assert sum(users) == overall[0]
    actions = Actions(*(torch.from_numpy(v) for v in (data.user, data.item, data.ts)))
    lo, hi = int(actions.ts.min()), int(actions.ts.max())
    churn = evaluate_churn(
        GraphAsOf(
            actions, torch.from_numpy(data.follow_src), torch.from_numpy(data.follow_dst), 600
        ),
        cuts=[lo + int((hi - lo) * q) for q in (0.6, 0.7)],
        horizon_ms=60 * DAY_MS,
        window_ms=14 * DAY_MS,
        follow_ts=torch.from_numpy(data.follow_ts),
        groups=groups,
    )
    by_group = churn["summary"]["by_group"]
    assert {(r["attribute"], r["group"]) for r in by_group} == {
        (a, g) for a, g, _ in members(groups)
    }
    for row in churn["rows"]:
        for attribute in groups:
            at_risk = sum(g["at_risk"] for g in row["by_group"] if g["attribute"] == attribute)
            assert at_risk == row["at_risk"]
    text = "\n".join(
        fairness_section({"item_ranking": {"by_group": summary}, "churn": churn}, k=10)
    )
    assert "### Fairness" in text and "female" in text and "AUC (shipped)" in text
    assert fairness_section({"item_ranking": {"summary": {}}}, k=10) == []
