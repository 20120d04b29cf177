"""Purchase propensity: features see only the past; rankings and recall on known toy cases;
on the Taobao sample the fitted category ranking beats both baselines."""

from __future__ import annotations

from pathlib import Path

import torch

from engine.adoptions import DAY_MS
from engine.purchase_propensity import (
    BUY,
    CART,
    VIEW,
    Behaviours,
    behaviours_from_events,
    evaluate_propensity,
    features,
)
from graph.datasets.taobao import taobao_events

TAOBAO = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "datasets"
    / "taobao-userbehavior-sample"
    / "UserBehavior.csv"
)


def _toy(rows: list[tuple[int, int, int, int, int]]) -> Behaviours:
    user, item, category, kind, day = (torch.tensor(c) for c in zip(*rows, strict=True))
    return Behaviours(user, item, category, kind, day * DAY_MS + 3600_000, 3, 4)


def test_features_ignore_what_happens_from_the_target_day_on() -> None:
    past = [(0, 1, 0, VIEW, 0), (0, 1, 0, CART, 1), (1, 2, 1, BUY, 1), (2, 3, 2, VIEW, 1)]
    future = [(0, 1, 0, BUY, 2), (2, 3, 2, BUY, 3)]
    t = 2 * DAY_MS
    assert torch.equal(features(_toy(past), t), features(_toy(past + future), t))
    f = features(_toy(past), t)
    assert f[0, -2] > 0 and f[1, -2] == 0  # user 0 has an open cart, user 1 none


def test_on_taobao_the_fitted_ranking_beats_own_history_and_popularity() -> None:
    b, users = behaviours_from_events(list(taobao_events(TAOBAO)))
    assert len(users) == 814
    last = int(b.ts.max()) // DAY_MS * DAY_MS
    result = evaluate_propensity(b, [last - DAY_MS, last])
    recall = result["summary"]["categories_recall@10"]
    assert recall["profile"] > recall["own_history"] > recall["popularity"]
    auc = result["summary"]["who_buys_auc"]
    assert auc["own_history"] > 0.55 and auc["model"] > 0.55  # both rank better than chance
    assert all(r["buyers"] > 100 for r in result["rows"])
