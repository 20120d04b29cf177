"""Purchase propensity: features see only the past; rankings and recall on known toy cases;
on the Taobao sample the fitted category ranking beats both baselines."""

from __future__ import annotations

from pathlib import Path

import torch

from engine.dimensions.adoptions import DAY_MS
from engine.dimensions.purchase_propensity import (
    BUY,
    CART,
    VIEW,
    Behaviours,
    behaviours_from_events,
    behaviours_from_log,
    evaluate_propensity,
    features,
    last_days,
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


def test_the_snapshot_action_log_gives_the_behaviours_the_shop_generated() -> None:
    """The evaluation reads the snapshot's action log: on the synthetic shop it must hold the
    generated views, carts and purchases (clicks have no propensity code), at their times."""
    from graph.datasets.synthetic import KIND_NAMES, SyntheticConfig, generate, to_snapshot
    from jobs.value_report import propensity_section

    ds = generate(SyntheticConfig(n_users=300, n_items=80, horizon_days=30, seed=3))
    from_log = behaviours_from_log(to_snapshot(ds))
    assert from_log is not None
    codes = {"view": VIEW, "cart": CART, "purchase": BUY}
    for name, code in codes.items():
        generated = ds.ts[ds.kind == KIND_NAMES.index(name)]
        got = from_log.ts[from_log.kind == code]
        assert torch.equal(got.sort().values, torch.from_numpy(generated).sort().values), name
    assert len(from_log.user) == sum(int((ds.kind == KIND_NAMES.index(n)).sum()) for n in codes)
    days = last_days(from_log, 3)
    assert days == sorted(days) and days[-1] <= int(from_log.ts.max()) < days[-1] + DAY_MS
    result = evaluate_propensity(from_log, days)
    assert len(result["rows"]) == 3 and all(r["buyers"] > 0 for r in result["rows"])
    assert any("who buys: AUC" in line for line in propensity_section(result))
