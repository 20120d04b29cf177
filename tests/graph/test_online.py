"""The online path against the real Neo4j: a purchase moves a profiled customer's value fields
and takes the bought item out of their recommendations in the ingest's own transaction; the
figures are the engine's for the customer's orders as stored; a replay changes nothing; a user
without consent or without a profile is left alone."""

from __future__ import annotations

from typing import Any

import pytest

from core.profile_contract import FIELDS_BY_NAME
from engine.dimensions.adoptions import DAY_MS
from engine.dimensions.customer_profile import CustomerConfig, customer_columns
from engine.dimensions.online import CustomerHistory, OnlineModel, online_value
from engine.interactions import timed_actions
from graph.client import GraphClient
from graph.datasets.synthetic import SyntheticConfig, generate, to_snapshot
from graph.ingest import ingest_events
from graph.online import OnlineUpdate
from graph.profiles import read_profile
from graph.queries import Query
from graph.writeback import ProfileRow, Recommendation, write_profiles
from tests.graph.conftest import wipe

T0 = 1_700_000_000_000


@pytest.fixture(scope="module")
def model() -> OnlineModel:
    shop = to_snapshot(generate(SyntheticConfig(n_users=300, n_items=80, horizon_days=300, seed=2)))
    fit = customer_columns(shop, timed_actions(shop), None, CustomerConfig()).fit
    return OnlineModel("r-online", {**fit, "as_of_ms": T0}, CustomerConfig())


def _buy(n: int, user: str, item: str, day: float, amount: float) -> dict[str, Any]:
    return {
        "type": "interaction",
        "event_id": f"buy-{n}",
        "user_id": user,
        "item_id": item,
        "kind": "purchase",
        "ts": int(T0 + day * DAY_MS),
        "amount": amount,
        "order_id": f"o-{n}",
    }


def test_a_purchase_moves_the_profile_in_the_ingest_transaction(
    graph: GraphClient, model: OnlineModel
) -> None:
    wipe(graph)
    online = OnlineUpdate(model, consent_default=True)
    users = [
        {"type": "user_upsert", "event_id": "u-a", "user_id": "a"},
        {"type": "user_upsert", "event_id": "u-b", "user_id": "b", "profiling_consent": False},
        {"type": "user_upsert", "event_id": "u-c", "user_id": "c"},
    ]
    items = [{"type": "item_upsert", "event_id": f"i-{i}", "item_id": i} for i in "xyz"]
    history = [_buy(1, "a", "x", -90, 20.0), _buy(2, "a", "y", -30, 35.0), _buy(3, "b", "x", -5, 9)]
    ingest_events(graph, users + items + history, source="test", online=online)
    assert read_profile(graph, "a") == {}  # not profiled yet: nothing to move
    rows = [
        ProfileRow(u, [0.0] * 64, {}, recommendations=[Recommendation("z", 1, 1.0, "exploit", "r")])
        for u in ("a", "b", "c")
    ]
    write_profiles(graph, "r-online", 0, rows)
    stored = read_profile(graph, "a")
    assert stored is not None and "frequency" not in stored  # the refresh's: none

    # a purchase of the recommended item, on a day already counted (no new occasion) and later
    report = ingest_events(
        graph,
        [_buy(4, "a", "z", -30, 5.0), _buy(5, "a", "x", 2, 50.0), _buy(6, "b", "z", 1, 3.0)],
        source="test",
        online=online,
    )
    assert report.applied == 3
    after = read_profile(graph, "a")
    assert after is not None
    expected = online_value(
        model,
        CustomerHistory(
            [
                int(T0 - 90 * DAY_MS),
                int(T0 - 30 * DAY_MS),
                int(T0 - 30 * DAY_MS),
                int(T0 + 2 * DAY_MS),
            ],
            [20.0, 35.0, 5.0, 50.0],
            int(T0 + 2 * DAY_MS),
        ),
    )
    assert expected["frequency"] == 3 and expected["total_spend"] == pytest.approx(110.0)
    for name, value in expected.items():
        got = after.get(name)
        assert got == pytest.approx(value) if isinstance(value, float) else got == value, name
    props = _props(graph, "a")
    assert props["profile_recommendations"] == [] and _recommended(graph, "a") == []
    assert set(props["profile_online_fields"]) == set(expected)
    online_at = props["profile_online_at"]
    # b has no consent: no profile was written and the purchase moves none
    assert "profile_online_at" not in _props(graph, "b")
    # c bought nothing: keeps the refresh's list
    assert _recommended(graph, "c") == ["z"]

    # the same batch again (a redelivery): the ledger skips it, and the profile stays
    again = ingest_events(
        graph,
        [_buy(4, "a", "z", -30, 5.0), _buy(5, "a", "x", 2, 50.0), _buy(6, "b", "z", 1, 3.0)],
        source="test",
        online=online,
    )
    assert again.applied == 0
    assert _props(graph, "a")["profile_online_at"] == online_at


PROPS = Query(
    name="test_user_props",
    mode="read",
    text="MATCH (u:User {user_id: $u}) RETURN properties(u) AS p",
)
RECOMMENDED = Query(
    name="test_recommended",
    mode="read",
    text="MATCH (:User {user_id: $u})-[:RECOMMENDED]->(i:Item) RETURN i.item_id AS i",
)


def _props(graph: GraphClient, user: str) -> dict[str, Any]:
    return dict(graph.read(PROPS, u=user)[0]["p"])


def _recommended(graph: GraphClient, user: str) -> list[str]:
    return [r["i"] for r in graph.read(RECOMMENDED, u=user)]


def test_fields_named_online_are_contract_fields() -> None:
    from engine.dimensions.online import ONLINE_FIELDS

    assert set(ONLINE_FIELDS) <= set(FIELDS_BY_NAME)
