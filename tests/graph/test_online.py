"""The online path against the real Neo4j: a purchase moves a profiled customer's value fields
and takes the bought item out of their recommendations in the ingest's own transaction; the
figures are the engine's for the customer's orders as stored; a replay changes nothing; a user
without consent or without a profile is left alone."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from core.settings import Settings
from core.vocabulary import FOLLOWS
from engine.dimensions.adoptions import DAY_MS
from engine.dimensions.customer_profile import CustomerConfig, customer_columns
from engine.dimensions.next_steps import NextConfig, fit_next, next_columns
from engine.dimensions.online import CustomerHistory, OnlineModel, online_value
from engine.dimensions.online_next import NEXT_FIELDS, OnlineNext
from engine.interactions import timed_actions
from engine.models.next_behaviour import SequenceConfig
from graph.client import GraphClient
from graph.datasets.synthetic import SyntheticConfig, generate, to_snapshot
from graph.export import ACTIONS_PER_USER, export_snapshot
from graph.online import OnlineUpdate
from graph.profiles import read_profile
from graph.queries import Query
from graph.selections import Neighbourhood, WholeGraph
from graph.source import apply_source, ingest_events
from graph.stream import RedisStreamSource, publish
from graph.writeback import WRITE_PROCEDURE, ProfileRow, Recommendation, write_profiles
from profilegraph.cli import app
from profilegraph.services.redis_server import client as redis_client
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
    graph: GraphClient, model: OnlineModel, monkeypatch: pytest.MonkeyPatch
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
        ProfileRow(
            u,
            [0.0] * 64,
            {"lifecycle_stage": "lapsed"},
            recommendations=[Recommendation("z", 1, 1.0, "exploit", "r")],
        )
        for u in ("a", "b", "c")
    ]
    write_profiles(graph, "r-online", 0, rows)
    stored = read_profile(graph, "a")
    assert stored is not None and "frequency" not in stored  # the refresh's: none
    assert stored["lifecycle_stage"] == "lapsed"

    # a purchase of the recommended item, on a day already counted (no new occasion) and later
    batch = [_buy(4, "a", "z", -30, 5.0), _buy(5, "a", "x", 2, 50.0), _buy(6, "b", "z", 1, 3.0)]
    report = ingest_events(graph, batch, source="test", online=online)
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
    assert "churn_probability" not in expected  # orders move value; churn on every action
    assert expected["frequency"] == 3 and expected["total_spend"] == pytest.approx(110.0)
    for name, value in expected.items():
        got = after.get(name)
        assert got == pytest.approx(value) if isinstance(value, float) else got == value, name
    props = _props(graph, "a")
    assert props["profile_recommendations"] == [] and _recommended(graph, "a") == []
    assert set(props["profile_online_fields"]) == set(expected)
    online_at = props["profile_online_at"]
    # the analyst's view: who moved stage since their refresh
    assert expected["lifecycle_stage"] != "lapsed"
    moves = graph.read("online_moves", minutes=5, limit=10)
    assert [(m["user_id"], m["stage_at_run"], m["stage_now"]) for m in moves] == [
        ("a", "lapsed", expected["lifecycle_stage"])
    ]
    # where people see it: the profile marks what moved online, watch says by what
    monkeypatch.setenv("COLUMNS", "200")
    shown = CliRunner().invoke(app, ["profile", "a"])
    assert shown.exit_code == 0, shown.output
    assert "(online)" in shown.output and "fields moved by events since the run" in shown.output
    watched = CliRunner().invoke(app, ["watch", "a", "--times", "1"])
    assert watched.exit_code == 0, watched.output
    stage = next(line for line in watched.output.splitlines() if "lifecycle stage" in line)
    assert expected["lifecycle_stage"] in stage and stage.endswith("(online)")
    # b has no consent: no profile was written and the purchase moves none
    assert "profile_online_at" not in _props(graph, "b")
    # c bought nothing: keeps the refresh's list
    assert _recommended(graph, "c") == ["z"]

    # the same batch again (a redelivery): the ledger skips it, and the profile stays
    again = ingest_events(graph, batch, source="test", online=online)
    assert again.applied == 0
    assert _props(graph, "a")["profile_online_at"] == online_at

    # a refresh whose snapshot predates the online update keeps its fields (both writers)
    assert report.epoch > 0
    for procedure in (True, False):
        graph.procedures[WRITE_PROCEDURE] = procedure
        write_profiles(
            graph, "r-old", report.epoch - 1, [ProfileRow("a", [0.0] * 64, {"segment": 3})]
        )
        props = _props(graph, "a")
        assert props["profile_run_id"] == "r-old" and props["profile_segment"] == 3
        assert props["profile_frequency"] == expected["frequency"]  # newer than the run
        assert props["profile_clv"] == pytest.approx(expected["clv"])
    # a refresh that saw the event writes its own figures (here: none)
    write_profiles(graph, "r-new", report.epoch, [ProfileRow("a", [0.0] * 64, {})])
    assert "profile_frequency" not in _props(graph, "a")
    # an event moves a again, then a refresh that saw it computes the very profile r-new wrote:
    # the online path cleared a's digests, so the writer does not take it for unchanged
    moved = ingest_events(graph, [_buy(7, "a", "x", 3, 10.0)], source="test", online=online)
    assert _props(graph, "a")["profile_frequency"] == expected["frequency"] + 1
    rewrite = write_profiles(graph, "r-new2", moved.epoch, [ProfileRow("a", [0.0] * 64, {})])
    assert rewrite.written == 1 and "profile_frequency" not in _props(graph, "a")
    # with every_action a view moves "now": the days since the last order (day 3) grow to 37
    # at day 40
    view = {
        "type": "interaction",
        "event_id": "view-1",
        "user_id": "a",
        "item_id": "y",
        "kind": "view",
        "ts": int(T0 + 40 * DAY_MS),
    }
    ingest_events(graph, [view], source="test", online=online)  # orders only: the view waits
    assert "profile_last_active" not in _props(graph, "a")  # as r-new2 wrote it
    view["event_id"] = "view-2"
    every = OnlineUpdate(model, consent_default=True, every_action=True)
    ingest_events(graph, [view], source="test", online=every)
    props = _props(graph, "a")
    assert props["profile_last_active"] == view["ts"]
    assert props["profile_frequency"] == expected["frequency"] + 1
    assert props["profile_recency_days"] == pytest.approx(37.0)
    # and the churn probability moves, from a's action days (no followees)
    churn = online_value(
        model,
        CustomerHistory(
            [int(T0 + d * DAY_MS) for d in (-90, -30, -30, 2, 3)],
            [20.0, 35.0, 5.0, 50.0, 10.0],
            view["ts"],
            action_ts=[int(T0 + d * DAY_MS) for d in (-90, -30, -30, 2, 3, 40)],
            followee_last_ms=[],
        ),
    )
    assert model.churn_moves and churn["churn_probability"] is not None
    assert props["profile_churn_probability"] == pytest.approx(churn["churn_probability"])
    assert props["profile_churn_explanation"] == churn["churn_explanation"]
    assert "churn_probability" in props["profile_online_fields"]


def test_the_online_churn_reads_the_action_times_an_export_keeps(graph: GraphClient) -> None:
    """Online churn is exact only if its query reads the times a refresh's export keeps: each
    edge's first and latest time, the latest logged ones (a bound that drops old days), and the
    followees an export keeps (not one without consent) with their latest action."""
    wipe(graph)
    day = lambda d: int(T0 + d * DAY_MS)  # noqa: E731
    act = lambda n, u, i, kind, d: {  # noqa: E731
        "type": "interaction",
        "event_id": f"e-{n}",
        "user_id": u,
        "item_id": i,
        "kind": kind,
        "ts": day(d),
    }
    events = [
        {"type": "user_upsert", "event_id": "u-a", "user_id": "a"},
        {"type": "user_upsert", "event_id": "u-f1", "user_id": "f1"},
        {"type": "user_upsert", "event_id": "u-f2", "user_id": "f2", "profiling_consent": False},
        {"type": "user_upsert", "event_id": "u-f3", "user_id": "f3"},
        *({"type": "item_upsert", "event_id": f"i-{i}", "item_id": i} for i in "xyz"),
        *(
            {
                "type": "follow",
                "event_id": f"f-{f}",
                "user_id": "a",
                "target_user_id": f,
                "ts": day(-300),
            }
            for f in ("f1", "f2", "f3")
        ),
        act(1, "a", "x", "view", -200),
        act(2, "a", "x", "view", -150),
        act(3, "a", "x", "view", -100),  # one edge, three times: the middle one is logged only
        act(4, "a", "y", "purchase", -50),
        act(5, "a", "y", "purchase", -10),
        act(6, "a", "z", "cart", -3),
        act(7, "f1", "x", "view", -60),
        act(8, "f1", "y", "view", -40),
        act(9, "f2", "z", "view", -2),
    ]
    ingest_events(graph, events, source="test")
    write_profiles(graph, "r-x", 0, [ProfileRow("a", [0.0] * 64, {})])
    seen_days = []
    for per_user in (ACTIONS_PER_USER, 2):
        [row] = graph.read(
            "online_customer_history",
            users=["a"],
            consent_default=True,
            context=False,
            per_user=per_user,
            churn=True,
        )
        snapshot = export_snapshot(
            graph, Neighbourhood(user_ids=["a"], hops=1), actions_per_user=per_user
        )
        actions = timed_actions(snapshot)
        ids = snapshot.node_ids["user"]
        a = ids.index("a")
        exported = {t // DAY_MS for t in actions.ts[actions.user == a].tolist()}
        read = {t // DAY_MS for t in row["edge_ts"] if t is not None and t >= 0}
        read |= set(row["log_days"])
        assert read == exported
        seen_days.append(read)
        follows = snapshot.edges[FOLLOWS]
        followees = follows.dst[follows.src == a].tolist()
        last = sorted(
            int(actions.ts[actions.user == f].max()) if bool((actions.user == f).any()) else -1
            for f in followees
        )
        assert sorted(row["followee_last_ms"]) == last == [-1, day(-40)]  # f2 left out
    assert seen_days[1] < seen_days[0]  # the bound dropped a day: the comparison can fail


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


def _crashing_online_consumer(name: str, fit_path: str, where: str) -> int:
    """A consumer with the online path in a child process that dies (os._exit) on its first
    batch: inside the ingest transaction right after the online update ran (``in_transaction``),
    after reading (``after_read``) or after the commit, before the acknowledgement
    (``after_commit``)."""
    hook = "" if where == "in_transaction" else f"{where}=lambda ids: os._exit(9),"
    script = textwrap.dedent(
        f"""
        import json, os
        import graph.online
        from core.settings import load_settings
        from engine.dimensions.customer_profile import CustomerConfig
        from engine.dimensions.online import OnlineModel
        from graph.client import GraphClient
        from graph.source import apply_source
        from graph.stream import RedisStreamSource
        from profilegraph.services.redis_server import client

        if {where!r} == "in_transaction":
            real = graph.online.OnlineUpdate.apply
            def dying(self, tx, events, epoch):
                real(self, tx, events, epoch)
                os._exit(9)
            graph.online.OnlineUpdate.apply = dying
        fit = json.load(open({fit_path!r}))
        online = graph.online.OnlineUpdate(OnlineModel("r-online", fit, CustomerConfig()))
        settings = load_settings()
        with GraphClient(settings.neo4j) as g, client(settings.redis) as conn:
            source = RedisStreamSource(conn, stream={name!r}, consumer="crashy",
                                       batch_size=10, block_ms=100, until_empty=True, {hook})
            apply_source(g, source, online=online)
        """
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True).returncode


@pytest.mark.parametrize("where", ["in_transaction", "after_read", "after_commit"])
def test_a_crash_anywhere_applies_each_purchase_to_the_profile_once(
    graph: GraphClient, settings: Settings, model: OnlineModel, tmp_path: Path, where: str
) -> None:
    """kill -9 of the consumer at any point, then a survivor drains the stream: each profile
    equals what a clean replay of the purchases gives (each order counted once)."""
    wipe(graph)
    users = ["p", "q", "r"]
    ingest_events(
        graph,
        [{"type": "user_upsert", "event_id": f"u-{u}", "user_id": u} for u in users]
        + [{"type": "item_upsert", "event_id": f"i-{i}", "item_id": f"i{i}"} for i in range(5)],
        source="test",
    )
    write_profiles(graph, "r-online", 0, [ProfileRow(u, [0.0] * 64, {}) for u in users])
    purchases = [_buy(100 + k, users[k % 3], f"i{k % 5}", -40 + 3 * k, 10.0 + k) for k in range(30)]
    fit_path = tmp_path / "fit.json"
    fit_path.write_text(json.dumps(model.fit))
    name = f"test:online:{uuid.uuid4().hex}"
    with redis_client(settings.redis) as conn:
        publish(conn, purchases, stream=name)
        assert _crashing_online_consumer(name, str(fit_path), where) == 9
        survivor = RedisStreamSource(
            conn, stream=name, consumer="survivor", batch_size=10, block_ms=100, until_empty=True
        )
        apply_source(graph, survivor, online=OnlineUpdate(model))
        conn.delete(name)
    for user in users:
        mine = [e for e in purchases if e["user_id"] == user]
        replay = online_value(
            model,
            CustomerHistory(
                [e["ts"] for e in mine], [e["amount"] for e in mine], max(e["ts"] for e in mine)
            ),
        )
        got = read_profile(graph, user) or {}
        assert got["total_spend"] == pytest.approx(sum(e["amount"] for e in mine))
        for field, value in replay.items():
            assert got.get(field) == (pytest.approx(value) if isinstance(value, float) else value)


# a short window (4 actions): the online read of the newest 8 must fall back to the export's
# 500 when the newest are items the run never saw
NEXT_CONFIG = NextConfig(sequence=SequenceConfig(max_epochs=2, dim=16, length=4, device="cpu"))
NEXT_EDGES = Query(
    name="test_next_edges",
    mode="read",
    text="MATCH (:User {user_id: $u})-[r:NEXT_CATEGORY]->(c:Category) "
    "RETURN c.name AS name, r.rank AS rank, r.run_id AS run_id ORDER BY r.rank",
)


def test_an_action_moves_the_next_behaviour_as_a_refresh_computes_it(
    graph: GraphClient,
) -> None:
    """A view moves the customer's next behaviour in the ingest transaction, equal to what an
    incremental refresh of their neighbourhood computes with the same run's sequence model from
    an export of the same graph: the queries read the actions, tags and primary categories the
    export reads (a tag of a category that exists, an item with two categories, an item the
    run never saw, a followee without consent left out). A refresh older than the update keeps
    the online next categories and their edges (both writers)."""
    wipe(graph)
    hour = 3_600_000
    rng = random.Random(3)
    items = [f"it{k}" for k in range(12)]
    cats = {
        it: [f"c{k % 4}", f"c{(k + 1) % 4}"] if k % 3 else [f"c{k % 4}"]
        for k, it in enumerate(items)
    }
    events: list[dict[str, Any]] = [
        {"type": "user_upsert", "event_id": f"u-{u}", "user_id": u}
        for u in ("a", "f1", "f3", "o1", "o2")
    ]
    events.append(
        {"type": "user_upsert", "event_id": "u-f2", "user_id": "f2", "profiling_consent": False}
    )
    events += [
        {"type": "item_upsert", "event_id": f"i-{it}", "item_id": it, "categories": cats[it]}
        for it in items
    ]
    events += [
        {"type": "follow", "event_id": f"fo-{a}-{b}", "user_id": a, "target_user_id": b, "ts": T0}
        for a, b in (("a", "f1"), ("a", "f2"), ("a", "f3"), ("o1", "a"), ("o2", "o1"))
    ]
    kinds = ["view", "view", "cart", "purchase"]
    n = 0
    for user in ("a", "f1", "f2", "f3", "o1", "o2"):
        for step in range(25):
            n += 1
            kind = rng.choice(kinds)
            event = {
                "type": "interaction",
                "event_id": f"act-{n}",
                "user_id": user,
                "item_id": rng.choice(items),
                "kind": kind,
                "ts": T0 + (step * 7 + n % 5) * hour,
            }
            if kind == "purchase":
                event |= {"order_id": f"o-{n}", "amount": 5.0}
            events.append(event)
    events.append(
        {
            "type": "interaction",
            "event_id": "tag-1",
            "user_id": "a",
            "item_id": "it1",
            "kind": "tag",
            "category": "c3",
            "ts": T0 + 200 * hour,
        }
    )
    ingest_events(graph, events, source="test")
    full = export_snapshot(graph, WholeGraph())
    model = fit_next(full, NEXT_CONFIG)
    assert model is not None and model.social
    write_profiles(graph, "r-next", 0, [ProfileRow(u, [0.0] * 64, {}) for u in ("a", "o1")])
    # nine views of items the run never saw (more than the online read's first 8), then a
    # view of a known one
    late: list[dict[str, Any]] = [
        {"type": "item_upsert", "event_id": "i-new", "item_id": "new", "categories": ["c9"]},
        *(
            {
                "type": "interaction",
                "event_id": f"v-new-{k}",
                "user_id": "a",
                "item_id": f"new-{k}",
                "kind": "view",
                "ts": T0 + (290 + k) * hour,
            }
            for k in range(9)
        ),
        {
            "type": "interaction",
            "event_id": "v-2",
            "user_id": "a",
            "item_id": "it5",
            "kind": "view",
            "ts": T0 + 301 * hour,
        },
    ]
    online = OnlineUpdate(None, next=OnlineNext(model, NEXT_CONFIG), every_action=True)
    report = ingest_events(graph, late, source="test", online=online)
    got = read_profile(graph, "a")
    assert got is not None
    around = export_snapshot(graph, Neighbourhood(user_ids=["a"], hops=1))
    row = around.node_ids["user"].index("a")
    columns = next_columns(around, model, NEXT_CONFIG, torch.tensor([row]))
    for name in NEXT_FIELDS:
        expected = getattr(columns, name)[row]
        if isinstance(expected, float) or (
            isinstance(expected, list) and expected and isinstance(expected[0], float)
        ):
            assert got[name] == pytest.approx(expected, rel=1e-6, abs=1.0001e-4), name
        else:
            assert got[name] == expected, name
    edges = graph.read(NEXT_EDGES, u="a")
    assert [e["name"] for e in edges] == got["next_categories"]
    assert {e["run_id"] for e in edges} == {"online"}
    props = _props(graph, "a")
    assert set(NEXT_FIELDS) <= set(props["profile_online_fields"])
    # o1 did nothing in the batch: untouched
    assert "profile_online_at" not in _props(graph, "o1")
    # a refresh whose snapshot predates the update keeps the online next categories
    for procedure in (True, False):
        graph.procedures[WRITE_PROCEDURE] = procedure
        stale = {"next_categories": ["c0"], "next_category_probabilities": [0.9]}
        write_profiles(
            graph, f"r-old-{procedure}", report.epoch - 1, [ProfileRow("a", [0.0] * 64, stale)]
        )
        assert _props(graph, "a")["profile_next_categories"] == got["next_categories"]
        assert [e["name"] for e in graph.read(NEXT_EDGES, u="a")] == got["next_categories"]
    # a refresh that saw the update writes its own
    write_profiles(graph, "r-new", report.epoch, [ProfileRow("a", [0.0] * 64, stale)])
    assert [(e["name"], e["run_id"]) for e in graph.read(NEXT_EDGES, u="a")] == [("c0", "r-new")]
