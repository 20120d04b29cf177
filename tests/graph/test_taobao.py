"""The Taobao loader against the real sample in ../shared: counts match its README, and a slice
lands in the graph with favourites as their own kind and purchases as orders."""

from __future__ import annotations

from collections import Counter
from itertools import islice
from pathlib import Path

from graph.client import GraphClient
from graph.datasets.taobao import count_events, taobao_events
from graph.queries import Query
from graph.source import ingest_events

DATA = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "datasets"
    / "taobao-userbehavior-sample"
    / "UserBehavior.csv"
)


def test_the_events_match_the_readme() -> None:
    events = list(taobao_events(DATA))
    kinds = Counter(e["kind"] for e in events if e["type"] == "interaction")
    assert kinds == {"view": 75_693, "cart": 4_494, "favourite": 2_351, "purchase": 1_749}
    assert len({e["user_id"] for e in events if e["type"] == "interaction"}) == 814
    assert len(events) == count_events(DATA)
    # every item is upserted with its category before its first action
    seen: set[str] = set()
    for e in events:
        if e["type"] == "item_upsert":
            seen.add(e["item_id"])
        else:
            assert e["item_id"] in seen


KINDS = Query(
    name="test_taobao_kinds",
    mode="read",
    text="MATCH (:User)-[r]->(:Item) RETURN type(r) AS kind, sum(r.count) AS events ORDER BY kind",
)
ORDERS = Query(name="test_taobao_orders", mode="read", text="MATCH (o:Order) RETURN count(o) AS n")


def test_a_slice_lands_with_favourites_and_orders(clean_graph: GraphClient) -> None:
    events = list(islice(taobao_events(DATA), 3_000))
    report = ingest_events(clean_graph, events, source="taobao")
    assert (report.applied, report.rejected) == (3_000, 0)
    expected = Counter(e["kind"] for e in events if e["type"] == "interaction")
    names = {"view": "VIEWED", "cart": "CARTED", "favourite": "FAVOURITED", "purchase": "PURCHASED"}
    got = {r["kind"]: r["events"] for r in clean_graph.read(KINDS)}
    assert got == {names[k]: n for k, n in expected.items()}
    assert clean_graph.read(ORDERS)[0]["n"] == expected["purchase"]
