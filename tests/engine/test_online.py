"""The online value path equals what an incremental refresh computes from the same graph with
the same run's models, order by order, including orders that a naive running count would get
wrong (a second order on a day already counted, an order arriving late, before the last one)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import torch

from core.profile_contract import FIELDS_BY_NAME
from core.vocabulary import FOLLOWS, ORDERS
from engine.dimensions.adoptions import DAY_MS
from engine.dimensions.customer_profile import CustomerConfig, customer_columns
from engine.dimensions.online import (
    VALUE_FIELDS,
    CustomerHistory,
    OnlineModel,
    online_value,
    online_values,
)
from engine.interactions import timed_actions
from engine.snapshot import EdgeSet, Snapshot
from graph.datasets.synthetic import SyntheticConfig, generate, to_snapshot
from tests.engine.neighbourhood import neighbourhood

CONFIG = CustomerConfig()


@pytest.fixture(scope="module")
def shop() -> Snapshot:
    data = generate(
        SyntheticConfig(n_users=400, n_items=120, mean_follows=3, horizon_days=400, seed=5)
    )
    return to_snapshot(data)


@pytest.fixture(scope="module")
def fit(shop: Snapshot) -> dict[str, Any]:
    """The full run's customer fit (computed once: every test reads it, none changes it)."""
    return customer_columns(shop, timed_actions(shop), None, CONFIG).fit


def _with_order(snapshot: Snapshot, user: int, ts: int, amount: float) -> Snapshot:
    orders = snapshot.edges[ORDERS]
    one = EdgeSet(
        torch.tensor([user]),
        torch.tensor([0]),
        torch.tensor([amount], dtype=orders.weight.dtype),
        torch.tensor([ts]),
        torch.tensor([1]),
    )
    edges = dict(snapshot.edges)
    edges[ORDERS] = EdgeSet(
        *(torch.cat([a, b]) for a, b in zip(_core(orders), _core(one), strict=True))
    )
    return Snapshot(**{**snapshot.__dict__, "edges": edges})


def _core(e: EdgeSet) -> tuple[torch.Tensor, ...]:
    return (e.src, e.dst, e.weight, e.ts, e.count)


def _refresh(snapshot: Snapshot, user: int, fit: dict) -> tuple[dict, float | None]:  # type: ignore[type-arg]
    """The user's value fields as an incremental refresh of them computes them."""
    around = neighbourhood(snapshot, [user], hops=0)
    columns = customer_columns(around, timed_actions(around), None, CONFIG, fitted=fit)
    row = around.node_ids["user"].index(snapshot.node_ids["user"][user])
    values = {
        name: _plain(getattr(columns, name)[row]) for name in VALUE_FIELDS if name != "last_active"
    }
    churn = _plain(columns.churn_probability[row])
    return values, churn


def _plain(value):  # type: ignore[no-untyped-def]
    from core.profile_contract import FIELDS_BY_NAME

    return FIELDS_BY_NAME["clv"].to_value(value) if isinstance(value, torch.Tensor) else value


def _history(snapshot: Snapshot, user: int, churn: float | None) -> CustomerHistory:
    orders = snapshot.edges[ORDERS]
    mine = orders.src == user
    actions = timed_actions(snapshot)
    last = actions.ts[actions.user == user]
    return CustomerHistory(
        orders.ts[mine].tolist(),
        orders.weight[mine].tolist(),
        int(last.max()) if last.numel() else None,
        churn,
    )


def test_online_value_equals_the_refresh_order_by_order(
    shop: Snapshot, fit: dict[str, Any]
) -> None:
    model = OnlineModel("r1", fit, CONFIG)
    assert model.supported and fit["value"]["rfm_bounds"]
    orders = shop.edges[ORDERS]
    counts = torch.bincount(orders.src, minlength=shop.num_nodes("user"))
    user = int(torch.nonzero(counts >= 3).flatten()[0])
    last = int(orders.ts[orders.src == user].max())
    now = int(fit["as_of_ms"])
    steps = [
        (now + 3 * DAY_MS, 40.0),  # a new order after the run's "now"
        (now + 3 * DAY_MS + 3_600_000, 15.0),  # the same day again: no new occasion
        (last - 20 * DAY_MS, 70.0),  # late: before the last order the run knew
        (now + 60 * DAY_MS, 5.0),  # much later: recency, P(active) and the stage move
    ]
    snapshot = shop
    moved = set()
    before = online_value(model, _history(snapshot, user, None))
    for ts, amount in steps:
        snapshot = _with_order(snapshot, user, ts, amount)
        expected, churn = _refresh(snapshot, user, fit)
        got = online_value(model, _history(snapshot, user, churn))
        for name, value in expected.items():
            if isinstance(value, float):
                assert got[name] == pytest.approx(value, rel=1e-6, abs=1e-9), name
            else:
                assert got[name] == value, name
            if got[name] != before[name]:
                moved.add(name)
        before = got
    # the steps move the figures a running count would get wrong
    assert {"frequency", "total_spend", "recency_days", "clv", "probability_active"} <= moved


def test_a_run_valued_by_activity_does_not_move_online() -> None:
    model = OnlineModel("r1", {"basis": "activity", "value": {"x": 1}}, CONFIG)
    assert not model.supported
    with pytest.raises(ValueError, match="basis not orders"):
        online_value(model, CustomerHistory([1], [1.0]))


def test_customers_valued_together_are_valued_as_if_alone(
    shop: Snapshot, fit: dict[str, Any]
) -> None:
    """An ingest batch values its customers in one call, grouped by their "now" day; who else
    is in the batch must change nothing (a batch-wide "now" would move everyone's recency)."""
    model = OnlineModel("r1", fit, CONFIG)
    now = int(fit["as_of_ms"])
    histories = [
        CustomerHistory([now - 200 * DAY_MS, now - 100 * DAY_MS], [30.0, 12.5]),
        CustomerHistory([now - 50 * DAY_MS, now + 40 * DAY_MS], [8.0, None], now + 41 * DAY_MS),
        CustomerHistory([now - 400 * DAY_MS], [99.0], None, 0.4),
        CustomerHistory([now + 5 * DAY_MS, now + 5 * DAY_MS + 60_000], [1.0, 2.0]),
    ]
    together = online_values(model, histories)
    alone = [online_value(model, h) for h in histories]
    assert together == alone
    # and the customers differ: the check is not vacuous
    assert len({row["recency_days"] for row in together}) == len(histories)


def test_the_usual_gap_is_the_time_between_orders(shop: Snapshot, fit: dict[str, Any]) -> None:
    """A field added to the contract and to the value dimension's columns reaches the refresh
    and the online path alike: a weekly buyer's usual gap is 7 days, a one-time buyer's the
    population's median."""
    model = OnlineModel("r1", fit, CONFIG)
    now = int(fit["as_of_ms"])
    weekly = CustomerHistory([now - 7 * k * DAY_MS for k in range(6)], [10.0] * 6)
    once = CustomerHistory([now - 3 * DAY_MS], [10.0])
    a, b = online_values(model, [weekly, once])
    assert a["usual_gap_days"] == pytest.approx(7.0)
    assert b["usual_gap_days"] == pytest.approx(fit["value"]["median_gap_days"])


def _with_action(snapshot: Snapshot, user: int, ts: int, kind: str = "PURCHASED") -> Snapshot:
    """``user`` acted on item 0 at ``ts`` (one more edge row: the engine reads each row's
    time)."""
    key = ("user", kind, "item")
    e = snapshot.edges[key]
    one = {
        "src": torch.tensor([user]),
        "dst": torch.tensor([0]),
        "weight": torch.ones(1, dtype=e.weight.dtype),
        "ts": torch.tensor([ts]),
        "count": torch.ones(1, dtype=e.count.dtype),
    }
    if e.category is not None:
        one["category"] = torch.zeros(1, dtype=e.category.dtype)
    if e.first_ts is not None:
        one["first_ts"] = torch.tensor([ts])
    columns = {k: torch.cat([v, one[k]]) for k, v in e.to_dict().items() if v is not None}
    return Snapshot(**{**snapshot.__dict__, "edges": {**snapshot.edges, key: EdgeSet(**columns)}})


def _churn_history(snapshot: Snapshot, user: int) -> CustomerHistory:
    """What ``online_customer_history.cypher`` reads for churn: the user's action times as an
    export keeps them and each followee's latest."""
    actions = timed_actions(snapshot)
    follows = snapshot.edges[FOLLOWS]
    last = []
    for f in follows.dst[follows.src == user].tolist():
        theirs = actions.ts[actions.user == f]
        last.append(int(theirs.max()) if theirs.numel() else None)
    return replace(
        _history(snapshot, user, None),
        action_ts=actions.ts[actions.user == user].tolist(),
        followee_last_ms=last,
    )


def test_online_churn_equals_the_refresh_event_by_event(
    shop: Snapshot, fit: dict[str, Any]
) -> None:
    """Where the run's churn model reads behaviour alone (the synthetic shop's does), the churn
    probability and its sentence move online and equal an incremental refresh of the user's
    neighbourhood (followees included), through steps a stored or naive figure gets wrong: a
    late purchase adds an active day, a followee's action changes the sentence, months of
    silence between purchases move recency and the BG/NBD columns."""
    model = OnlineModel("r1", fit, CONFIG)
    assert model.churn_moves, fit["churn"]
    follows = shop.edges[FOLLOWS]
    orders = shop.edges[ORDERS]
    n = shop.num_nodes("user")
    bought = torch.bincount(orders.src, minlength=n)
    followees = torch.bincount(follows.src, minlength=n)
    user = int(torch.nonzero((bought >= 3) & (followees >= 2)).flatten()[0])
    friend = int(follows.dst[follows.src == user][0])
    last = int(orders.ts[orders.src == user].max())
    t0 = int(fit["as_of_ms"])
    steps: list[tuple[int, int, bool]] = [  # (who, when, an order with it)
        (user, t0 + 3 * DAY_MS, True),
        (user, t0 + 3 * DAY_MS + 3_600_000, True),
        (user, last - 20 * DAY_MS, True),  # late: an active day the run did not know
        (friend, t0 + 150 * DAY_MS, False),  # a followee active again
        (user, t0 + 150 * DAY_MS + 3_600_000, True),
        (user, t0 + 400 * DAY_MS, True),  # everyone silent for months
    ]
    snapshot = shop
    seen: dict[str, set] = {"churn_probability": set(), "churn_explanation": set()}  # type: ignore[type-arg]
    for who, ts, order in steps:
        snapshot = _with_action(snapshot, who, ts)
        if order:
            snapshot = _with_order(snapshot, who, ts, 20.0)
        if who != user:
            continue
        around = neighbourhood(snapshot, [user], hops=1)
        columns = customer_columns(around, timed_actions(around), None, CONFIG, fitted=fit)
        row = around.node_ids["user"].index(snapshot.node_ids["user"][user])
        got = online_value(model, _churn_history(snapshot, user))
        expected = _plain(columns.churn_probability[row])
        assert expected is not None
        assert got["churn_probability"] == pytest.approx(expected, rel=1e-6, abs=1e-12)
        assert got["churn_explanation"] == columns.churn_explanation[row]
        assert got["lifecycle_stage"] == columns.lifecycle_stage[row]
        for name in seen:
            seen[name].add(got[name])
    # the steps moved both: the comparison is not between constants
    assert len(seen["churn_probability"]) >= 3 and len(seen["churn_explanation"]) >= 3


def test_churn_stays_with_the_refresh_where_the_model_reads_the_graph(
    shop: Snapshot, fit: dict[str, Any]
) -> None:
    weights = dict(fit["churn"]["weights"], columns=[0, 1, 2, 3, 4, 5, 6, 7, 8])
    graph_fit = {**fit, "churn": {**fit["churn"], "weights": weights}}
    history = _churn_history(shop, 0)
    assert not OnlineModel("r1", graph_fit, CONFIG).churn_moves
    row = online_value(OnlineModel("r1", graph_fit, CONFIG), history)
    assert "churn_probability" not in row and "churn_explanation" not in row
    # the same history without its action times keeps the stored figure too
    plain = online_value(OnlineModel("r1", fit, CONFIG), replace(history, action_ts=None))
    assert "churn_probability" not in plain
    assert "churn_probability" in online_value(OnlineModel("r1", fit, CONFIG), history)


def test_a_view_moves_the_figures_of_a_customer_with_or_without_orders(
    shop: Snapshot, fit: dict[str, Any]
) -> None:
    """Any action moves "now": a customer who only looks (no orders) and one who bought
    earlier both get the refresh's value and churn figures after a view, with the view's day
    as "now" (recency since the last order grows, P(active) and the stage move)."""
    model = OnlineModel("r1", fit, CONFIG)
    orders = shop.edges[ORDERS]
    actions = timed_actions(shop)
    n = shop.num_nodes("user")
    bought = torch.bincount(orders.src, minlength=n)
    acted = torch.bincount(actions.user, minlength=n)
    looker = int(torch.nonzero((bought == 0) & (acted > 0)).flatten()[0])
    buyer = int(torch.nonzero(bought >= 2).flatten()[0])
    t0 = int(fit["as_of_ms"])
    for user in (looker, buyer):
        snapshot = shop
        moved = set()
        for days in (5, 90, 200):
            snapshot = _with_action(snapshot, user, t0 + days * DAY_MS, "VIEWED")
            around = neighbourhood(snapshot, [user], hops=1)
            columns = customer_columns(around, timed_actions(around), None, CONFIG, fitted=fit)
            row = around.node_ids["user"].index(snapshot.node_ids["user"][user])
            got = online_value(model, _churn_history(snapshot, user))
            for name in (*VALUE_FIELDS, "churn_probability", "churn_explanation"):
                if name == "last_active":
                    continue
                expected = FIELDS_BY_NAME[name].to_value(getattr(columns, name)[row])
                if isinstance(expected, float):
                    assert got[name] == pytest.approx(expected, rel=1e-6, abs=1e-12), name
                else:
                    assert got[name] == expected, (user, name)
                moved.add((name, str(got[name])))
        assert len({m for m in moved if m[0] == "churn_probability"}) >= 2
        assert len({m for m in moved if m[0] == "lifecycle_stage"}) >= 2 or user == looker
