"""Snapshot export of each selection kind, checked against networkx on the same data."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
import torch

from engine.snapshot import Snapshot
from graph.client import GraphClient
from graph.edge_readers import Reader
from graph.export import export_snapshot
from graph.ingest import IngestReport, close_epoch
from graph.selections import ChangedSince, Neighbourhood, TimeWindow, WholeGraph
from graph.source import ingest_events
from tests.graph.conftest import wipe

START = datetime(2024, 1, 1, tzinfo=UTC)
KINDS = {"view": "VIEWED", "purchase": "PURCHASED", "listen": "LISTENED"}
READERS = ["procedure", "cypher"]  # profilegraph.exportEdges, and the plain Cypher fallback


def _events(seed: int = 3) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for i in range(40):
        events.append(
            {
                "type": "item_upsert",
                "event_id": f"item{i}",
                "item_id": f"i{i}",
                "categories": [f"c{i % 5}"],
            }
        )
    for n in range(300):
        ts = START + timedelta(hours=rng.randrange(24 * 60))
        user, item = f"u{rng.randrange(30)}", f"i{rng.randrange(40)}"
        events.append(
            {
                "type": "interaction",
                "event_id": f"x{n}",
                "user_id": user,
                "item_id": item,
                "kind": rng.choice(list(KINDS)),
                "ts": ts.isoformat(),
                "weight": rng.choice([1.0, 2.0]),
            }
        )
    for n in range(40):
        ts = START + timedelta(hours=rng.randrange(24 * 60))
        user, item = f"u{rng.randrange(30)}", f"i{rng.randrange(40)}"
        events.append(
            {
                "type": "interaction",
                "event_id": f"t{n}",
                "user_id": user,
                "item_id": item,
                "kind": "tag",
                "category": f"tag{rng.randrange(3)}",
                "ts": ts.isoformat(),
            }
        )
    for n in range(45):
        a, b = rng.sample(range(32), 2)  # u30, u31: users with follows only
        events.append(
            {
                "type": "follow",
                "event_id": f"f{n}",
                "user_id": f"u{a}",
                "target_user_id": f"u{b}",
                "ts": (START + timedelta(days=rng.randrange(60))).isoformat(),
            }
        )
    return events


def _expected_graph(events: list[dict[str, Any]]) -> nx.MultiDiGraph:
    """What the events mean, computed without Neo4j: aggregated edges keyed by (rel, category)."""
    g = nx.MultiDiGraph()
    for e in events:
        if e["type"] == "interaction":
            rel = "TAGGED" if e["kind"] == "tag" else KINDS[e["kind"]]
            key = (rel, e.get("category"))
            ts = int(datetime.fromisoformat(e["ts"]).timestamp() * 1000)
            if g.has_edge(e["user_id"], e["item_id"], key):
                data = g.edges[e["user_id"], e["item_id"], key]
                data["count"] += 1
                data["weight"] += e.get("weight", 1.0)
                data["ts"] = max(data["ts"], ts)
                data["first"] = min(data["first"], ts)  # events arrive out of time order
            else:
                g.add_edge(
                    e["user_id"],
                    e["item_id"],
                    key,
                    count=1,
                    weight=e.get("weight", 1.0),
                    ts=ts,
                    first=ts,
                )
            if e["kind"] == "purchase":  # each timed purchase is an order of its own
                g.add_edge(e["user_id"], f"event:{e['event_id']}", ("PLACED", None), ts=ts)
        elif e["type"] == "follow":
            ts = int(datetime.fromisoformat(e["ts"]).timestamp() * 1000)
            g.add_edge(e["user_id"], e["target_user_id"], ("FOLLOWS", None), ts=ts)
    return g


def _edges(snapshot: Snapshot) -> set[tuple[Any, ...]]:
    """Snapshot edges as external-id tuples (rel, category, src, dst, count, first, ts)."""
    out = set()
    for (src_type, rel, dst_type), es in snapshot.edges.items():
        if rel == "IN_CATEGORY":
            continue
        for k in range(len(es)):
            category = None
            if es.category is not None:
                category = snapshot.node_ids["category"][int(es.category[k])]
            out.add(
                (
                    rel,
                    category,
                    snapshot.node_ids[src_type][int(es.src[k])],
                    snapshot.node_ids[dst_type][int(es.dst[k])],
                    int(es.count[k]) if rel != "FOLLOWS" else 1,
                    int(es.first[k]),
                    int(es.ts[k]),
                )
            )
    return out


def _expected_edges(g: nx.MultiDiGraph, users: set[str] | None = None) -> set[tuple[Any, ...]]:
    out = set()
    for u, v, (rel, category), data in g.edges(keys=True, data=True):
        if users is not None and (u not in users or (rel == "FOLLOWS" and v not in users)):
            continue
        out.add(
            (rel, category, u, v, data.get("count", 1), data.get("first", data["ts"]), data["ts"])
        )
    return out


def _social(g: nx.MultiDiGraph) -> nx.Graph:
    social = nx.Graph()
    social.add_edges_from((u, v) for u, v, (rel, _) in g.edges(keys=True) if rel == "FOLLOWS")
    return social


@pytest.fixture(scope="module")
def data(settings: object) -> Iterator[tuple[GraphClient, list[dict[str, Any]], IngestReport]]:
    from core.settings import load_settings

    events = _events()
    with GraphClient(load_settings().neo4j) as client:
        wipe(client)
        report = ingest_events(client, events, source="test", batch_size=100)
        yield client, events, report


@pytest.mark.parametrize("reader", READERS)
def test_whole_graph(
    data: tuple[GraphClient, list[dict[str, Any]], IngestReport], reader: Reader
) -> None:
    client, events, report = data
    snapshot = export_snapshot(client, WholeGraph(), chunk_size=7, reader=reader)  # many chunks
    # the export closed the open epoch: its watermark covers this ingest, later ones stamp more
    assert snapshot.watermark >= report.epoch
    assert client.read("read_ingest_epoch")[0]["epoch"] == snapshot.watermark + 1
    assert _edges(snapshot) == _expected_edges(_expected_graph(events))
    assert snapshot.num_nodes("user") == 32 and bool(snapshot.node_features["user"]["seed"].all())
    cats = snapshot.edges[("item", "IN_CATEGORY", "category")]
    pairs = {
        (snapshot.node_ids["item"][int(s)], snapshot.node_ids["category"][int(d)])
        for s, d in zip(cats.src, cats.dst, strict=True)
    }
    items_seen = set(snapshot.node_ids["item"])
    expected_pairs = {(f"i{i}", f"c{i % 5}") for i in range(40) if f"i{i}" in items_seen}
    tagged = {(e["item_id"], e["category"]) for e in events if e.get("kind") == "tag"}
    assert pairs == expected_pairs | tagged


@pytest.mark.parametrize("hops", [0, 1, 2])
@pytest.mark.parametrize("reader", READERS)
def test_k_hop_neighbourhood(
    data: tuple[GraphClient, list[dict[str, Any]], IngestReport], hops: int, reader: Reader
) -> None:
    client, events, _ = data
    g = _expected_graph(events)
    expected_users = set(nx.ego_graph(_social(g), "u0", radius=hops).nodes)
    snapshot = export_snapshot(client, Neighbourhood(user_ids=["u0"], hops=hops), reader=reader)
    assert set(snapshot.node_ids["user"]) == expected_users
    seeds = [
        u
        for u, s in zip(
            snapshot.node_ids["user"], snapshot.node_features["user"]["seed"], strict=True
        )
        if s
    ]
    assert seeds == ["u0"]
    assert _edges(snapshot) == _expected_edges(g, expected_users)


@pytest.mark.parametrize("reader", READERS)
def test_time_window(
    data: tuple[GraphClient, list[dict[str, Any]], IngestReport], reader: Reader
) -> None:
    client, events, _ = data
    start, end = START + timedelta(days=10), START + timedelta(days=20)
    snapshot = export_snapshot(client, TimeWindow(start=start, end=end), reader=reader)
    lo, hi = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    expected = {e for e in _expected_edges(_expected_graph(events)) if lo <= e[-1] < hi}
    assert _edges(snapshot) == expected
    touched = {e[2] for e in expected} | {e[3] for e in expected if e[0] == "FOLLOWS"}
    assert set(snapshot.node_ids["user"]) == touched


def test_changed_since_watermark_plus_hops(
    data: tuple[GraphClient, list[dict[str, Any]], IngestReport],
) -> None:
    client, events, _ = data
    update = [
        {
            "type": "interaction",
            "event_id": "late-1",
            "user_id": "u5",
            "item_id": "i1",
            "kind": "view",
            "ts": (START + timedelta(days=70)).isoformat(),
        },
        {"type": "item_upsert", "event_id": "late-2", "item_id": "i7", "name": "renamed"},
    ]
    since = close_epoch(client)  # what an earlier refresh would have recorded
    ingest_events(client, update, source="test")
    g = _expected_graph(events + update)
    seeds = {"u5"} | {u for u, v in g.edges() if v == "i7"}
    expected = set().union(
        *(nx.ego_graph(_social(g), s, radius=1).nodes if s in _social(g) else {s} for s in seeds)
    )
    snapshot = export_snapshot(client, ChangedSince(watermark=since, hops=1))
    assert set(snapshot.node_ids["user"]) == expected
    seed_mask = snapshot.node_features["user"]["seed"]
    assert {u for u, s in zip(snapshot.node_ids["user"], seed_mask, strict=True) if s} == seeds
    nothing = export_snapshot(client, ChangedSince(watermark=snapshot.watermark, hops=1))
    assert nothing.node_ids["user"] == [] and nothing.num_edges() == 0


@pytest.mark.parametrize("reader", READERS)
def test_structure_only_export_has_the_same_edges(
    data: tuple[GraphClient, list[dict[str, Any]], IngestReport], reader: Reader
) -> None:
    client, _, _ = data
    full = export_snapshot(client, WholeGraph(), reader=reader)
    lean = export_snapshot(client, WholeGraph(), properties=False, reader=reader)
    assert lean.node_ids == full.node_ids and lean.selection["properties"] is False
    for key, edges in full.edges.items():
        other = lean.edges[key]
        assert torch.equal(other.src, edges.src) and torch.equal(other.dst, edges.dst), key
        if key[1] == "TAGGED":
            assert other.category is not None and torch.equal(other.category, edges.category)
        if key[1] != "IN_CATEGORY":
            assert bool((other.ts == -1).all()) and bool((other.count == 1).all()), key


def test_snapshot_file_round_trip(
    data: tuple[GraphClient, list[dict[str, Any]], IngestReport], tmp_path: Path
) -> None:
    client, _, _ = data
    snapshot = export_snapshot(client, WholeGraph())
    loaded = Snapshot.load(snapshot.save(tmp_path / "snap.pt"))
    assert loaded.node_ids == snapshot.node_ids and loaded.watermark == snapshot.watermark
    for key, edges in snapshot.edges.items():
        for name, tensor in edges.to_dict().items():
            assert torch.equal(tensor, loaded.edges[key].to_dict()[name]), (key, name)
    assert repr(loaded) == repr(snapshot)


def test_validate_reports_expected_and_found() -> None:
    from engine.snapshot import EdgeSet

    bad = Snapshot(
        node_ids={"user": ["a", "b"], "item": ["x"]},
        edges={
            ("user", "VIEWED", "item"): EdgeSet(
                src=torch.tensor([0, 1]),
                dst=torch.tensor([0, 3]),
                weight=torch.ones(2),
                ts=torch.zeros(2, dtype=torch.long),
                count=torch.ones(2, dtype=torch.long),
            )
        },
        watermark=0,
        taken_at=0.0,
        selection={},
    )
    with pytest.raises(ValueError, match=r"'dst' indices must lie in \[0, 1\) \(found \[0, 3\]\)"):
        bad.validate()


def test_selections_reject_bad_arguments() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="hops"):
        Neighbourhood(user_ids=["u1"], hops=9)
    with pytest.raises(ValidationError, match="must be after start"):
        TimeWindow(start=START, end=START)
    with pytest.raises(ValidationError, match="user_ids"):
        Neighbourhood(user_ids=["x'}) DETACH DELETE n"])


def test_the_project_server_has_the_export_procedure(graph: GraphClient) -> None:
    """The server the project starts carries graph/plugin (a failed build would otherwise
    leave every export on the slower Cypher path without anyone noticing)."""
    assert graph.read("has_procedure", procedure="profilegraph.exportEdges") == [
        {"installed": True}
    ]


def test_a_routed_uri_ingests_and_exports_the_same_graph(settings: object) -> None:
    """``neo4j://`` (what a cluster or Aura needs): the driver fetches the routing table (the
    local server routes to itself), writes go to the leader and reads to the readers, and the
    client's bookmarks make the export see the ingest it just committed."""
    from core.settings import load_settings

    base = load_settings().neo4j
    routed = base.model_copy(update={"scheme": "neo4j"})
    assert routed.uri.startswith("neo4j://")
    events = _events(seed=11)
    with GraphClient(routed) as client:
        wipe(client)
        routing = client._driver.get_server_info()  # raises unless routing works
        assert routing.address.port == base.bolt_port
        assert type(client._driver).__name__ == "Neo4jDriver"  # the routing driver
        ingest_events(client, events, source="test", batch_size=50)
        snapshot = export_snapshot(client, WholeGraph(), chunk_size=9)
    assert _edges(snapshot) == _expected_edges(_expected_graph(events))
