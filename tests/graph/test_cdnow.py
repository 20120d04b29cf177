"""CDNOW through the graph: its purchases ingested as orders, exported, and the published
repeat-purchase parameters fitted again from what the graph holds."""

from __future__ import annotations

from pathlib import Path

from core.vocabulary import ORDERS
from engine.dimensions.adoptions import DAY_MS
from engine.dimensions.repeat_purchases import calibrate, occasions
from engine.models.btyd import fit_bgnbd, fit_gamma_gamma
from graph.client import GraphClient
from graph.datasets.cdnow import START, cdnow_events
from graph.export import export_snapshot
from graph.selections import WholeGraph
from graph.source import ingest_events

SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "cdnow" / "CDNOW_sample.txt"


def test_the_graph_holds_what_the_published_fit_needs(clean_graph: GraphClient) -> None:
    report = ingest_events(clean_graph, cdnow_events(SAMPLE), source="cdnow")
    assert (report.applied, report.rejected) == (6919, 0)
    again = ingest_events(clean_graph, cdnow_events(SAMPLE), source="cdnow")
    assert again.applied == 0  # a replay changes nothing
    snapshot = export_snapshot(clean_graph, WholeGraph())
    orders = snapshot.edges[ORDERS]
    assert snapshot.num_nodes("user") == 2357
    assert len(orders) == 6696  # same-day purchases are one order: 6,919 rows, 6,696 days
    o = occasions(orders.src, orders.ts, orders.weight)
    start = int(START.timestamp() * 1000) // DAY_MS
    cal = calibrate(o, 2357, start + 272)
    bg = fit_bgnbd(cal.summary)
    assert [round(v, 3) for v in (bg.r, bg.alpha, bg.a, bg.b)] == [0.243, 4.414, 0.793, 2.426]
    gg = fit_gamma_gamma(cal.summary.x, cal.mean_repeat_value)
    assert [round(gg.p, 2), round(gg.q, 2), round(gg.gamma, 2)] == [6.25, 3.74, 15.44]
