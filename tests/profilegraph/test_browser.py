"""Neo4j Browser served by the local server, with the analyst guide, driven by real headless
Chromium: log in, run a query from the guide, read the result table."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from core.settings import Settings
from graph.analyst import analyst_queries
from graph.browser_guide import GUIDE, render
from graph.client import GraphClient
from graph.queries import Query
from profilegraph.browser_tour import run_guide_query
from tests.graph.conftest import wipe


def test_the_guide_is_generated_from_the_query_headers() -> None:
    """Edit a query, forget `python -m graph.browser_guide`, and this fails."""
    assert GUIDE.read_text(encoding="utf-8") == render(), "python -m graph.browser_guide"


def test_the_server_serves_the_browser_and_the_guide(settings: Settings) -> None:
    n = settings.neo4j
    with urllib.request.urlopen(f"http://{n.host}:{n.http_port}/browser/", timeout=10) as page:
        assert page.status == 200 and b"<title>Neo4j Browser</title>" in page.read()
    with urllib.request.urlopen(
        f"http://{n.host}:{n.http_port}/profilegraph/guide", timeout=10
    ) as g:
        guide = g.read().decode()
    assert all(f"<h3>{q.name}</h3>" in guide for q in analyst_queries())


SEGMENTS = Query(
    name="test_browser_segments",
    mode="write",
    text="""
    UNWIND range(0, 59) AS n
    CREATE (:User {user_id: 'b' + n, profile_segment: n % 2, profile_cold_start: false,
                   profile_segment_label: ['even shoppers', 'odd ones'][n % 2],
                   profile_influence: toFloat(n)})
    """,
)


def test_an_analyst_runs_a_guide_query_in_the_browser(
    settings: Settings, graph: GraphClient, tmp_path: Path
) -> None:
    wipe(graph)
    graph.write(SEGMENTS)
    shot = tmp_path / "browser.png"
    result = run_guide_query(settings, "segment_summary", screenshot=shot, expect="odd ones")
    rows = [line for line in result.text.splitlines() if "shoppers" in line or "odd ones" in line]
    assert rows == ['0 "even shoppers" 30 29.0 0.0 []', '1 "odd ones" 30 30.0 0.0 []'], rows
    assert shot.stat().st_size > 10_000  # a real page, not a blank
