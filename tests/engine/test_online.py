"""The online value path equals what an incremental refresh computes from the same graph with
the same run's models, order by order, including orders that a naive running count would get
wrong (a second order on a day already counted, an order arriving late, before the last one)."""

from __future__ import annotations

import pytest
import torch

from core.profile_contract import ONLINE_FIELDS
from core.vocabulary import ORDERS
from engine.dimensions.adoptions import DAY_MS
from engine.dimensions.customer_profile import CustomerConfig, customer_columns
from engine.dimensions.online import CustomerHistory, OnlineModel, online_value, online_values
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
        name: _plain(getattr(columns, name)[row]) for name in ONLINE_FIELDS if name != "last_active"
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


def test_online_value_equals_the_refresh_order_by_order(shop: Snapshot) -> None:
    full = customer_columns(shop, timed_actions(shop), None, CONFIG)
    fit = full.fit
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


def test_customers_valued_together_are_valued_as_if_alone(shop: Snapshot) -> None:
    """An ingest batch values its customers in one call, grouped by their "now" day; who else
    is in the batch must change nothing (a batch-wide "now" would move everyone's recency)."""
    fit = customer_columns(shop, timed_actions(shop), None, CONFIG).fit
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


def test_the_usual_gap_is_the_time_between_orders(shop: Snapshot) -> None:
    """A field added to the contract and to the value dimension's columns reaches the refresh
    and the online path alike: a weekly buyer's usual gap is 7 days, a one-time buyer's the
    population's median."""
    fit = customer_columns(shop, timed_actions(shop), None, CONFIG).fit
    model = OnlineModel("r1", fit, CONFIG)
    now = int(fit["as_of_ms"])
    weekly = CustomerHistory([now - 7 * k * DAY_MS for k in range(6)], [10.0] * 6)
    once = CustomerHistory([now - 3 * DAY_MS], [10.0])
    a, b = online_values(model, [weekly, once])
    assert a["usual_gap_days"] == pytest.approx(7.0)
    assert b["usual_gap_days"] == pytest.approx(fit["value"]["median_gap_days"])
