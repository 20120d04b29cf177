"""The offline bulk import produces exactly the graph the online ingest path produces."""

from __future__ import annotations

from core.settings import Settings
from graph.client import GraphClient
from graph.datasets.synthetic import SyntheticConfig, generate, synthetic_events
from graph.export import export_snapshot
from graph.selections import WholeGraph
from graph.source import ingest_events
from profilegraph.bulk_import import bulk_import
from tests.graph.conftest import wipe
from tests.graph.test_export import _edges


def test_bulk_import_equals_online_ingest(settings: Settings) -> None:
    data = generate(SyntheticConfig(n_users=150, n_items=40, n_categories=6, seed=4))
    bulk_import(settings, data)
    with GraphClient(settings.neo4j) as client:
        bulk = export_snapshot(client, WholeGraph())
        assert bulk.watermark == 1
        wipe(client)
        report = ingest_events(client, synthetic_events(data), source="synthetic")
        assert report.rejected == 0
        online = export_snapshot(client, WholeGraph())
    assert sorted(bulk.node_ids["user"]) == sorted(online.node_ids["user"])
    assert _edges(bulk) == _edges(online)
    cats = {
        name: {
            (s.node_ids["item"][int(a)], s.node_ids["category"][int(b)])
            for a, b in zip(
                s.edges[("item", "IN_CATEGORY", "category")].src,
                s.edges[("item", "IN_CATEGORY", "category")].dst,
                strict=True,
            )
        }
        for name, s in (("bulk", bulk), ("online", online))
    }
    assert cats["bulk"] == cats["online"]
