"""Analyst queries: exact answers on a fixture graph, index use, read-only, parameter checks."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from graph.analyst import QueryParameterError, analyst_queries, declared_params, run_analyst_query
from graph.client import GraphClient
from graph.errors import QueryError
from graph.ingest import ingest_events
from graph.queries import Query
from graph.writeback import finish_run, start_run
from profilegraph.cli import app
from tests.graph.conftest import wipe

FOREVER = ["from=0", "to=4102444800000"]
WRITE_CLAUSE = re.compile(
    r"(?i)\b(CREATE|MERGE|SET|DELETE|REMOVE|DETACH|DROP|FOREACH|LOAD\s+CSV)\b"
)


@pytest.fixture(scope="module")
def fixture_graph(settings: object) -> Iterator[GraphClient]:
    from profilegraph.settings import load_settings

    with GraphClient(load_settings().neo4j) as client:
        wipe(client)
        view = {"type": "interaction", "item_id": "i", "kind": "view"}
        bad = [
            {**view, "event_id": "a1", "user_id": "u 1"},
            {**view, "event_id": "a2", "user_id": "u1", "kind": "zap"},
            {**view, "event_id": "a3", "user_id": "u1", "kind": "zip"},
        ]
        ingest_events(client, bad, source="shop-a")
        ingest_events(client, bad[:1], source="shop-a")  # seen again: times 2
        ingest_events(client, bad[1:2], source="shop-b")
        for run, status in (("run-1", "complete"), ("run-2", "failed"), ("run-3", "complete")):
            start_run(client, run, kind="full", model="lightgcn", params={}, watermark=1)
            finish_run(client, run, status=status, metrics={"recall@10": 0.2},
                       timings={"total_s": 1.0}, profiles_written=10)  # fmt: skip
        yield client


def test_data_quality_rejections_exact_rows(fixture_graph: GraphClient) -> None:
    rows = run_analyst_query(fixture_graph, "data_quality_rejections", FOREVER)
    assert [(r["source"], r["field"], r["inputs"], r["times"]) for r in rows] == [
        ("shop-a", "kind", 2, 2),
        ("shop-a", "user_id", 1, 2),
        ("shop-b", "kind", 1, 1),
    ]
    assert run_analyst_query(fixture_graph, "data_quality_rejections", ["from=0", "to=1"]) == []


def test_run_history_newest_first_with_limit(fixture_graph: GraphClient) -> None:
    rows = run_analyst_query(fixture_graph, "run_history", [*FOREVER, "limit=2"])
    assert [(r["run_id"], r["status"]) for r in rows] == [
        ("run-3", "complete"),
        ("run-2", "failed"),
    ]
    assert json.loads(rows[0]["metrics"]) == {"recall@10": 0.2}


@pytest.mark.parametrize("query", analyst_queries(), ids=lambda q: q.name)
def test_files_hold_no_write_clause(query: Query) -> None:
    body = "\n".join(line for line in query.text.splitlines() if not line.lstrip().startswith("//"))
    assert not WRITE_CLAUSE.search(body), query.name
    assert {"purpose", "params", "returns", "example"} <= set(query.header)
    assert query.header["example"].startswith(f"profilegraph query {query.name}")


@pytest.mark.parametrize("query", analyst_queries(), ids=lambda q: q.name)
def test_an_index_serves_instead_of_a_full_scan(fixture_graph: GraphClient, query: Query) -> None:
    params = {name: 0 for name in declared_params(query)}
    operators = fixture_graph.explain(query, **params)
    assert not {"AllNodesScan", "NodeByLabelScan"} & set(operators), operators


def test_writes_are_refused_in_the_read_transaction(fixture_graph: GraphClient) -> None:
    sneaky = Query(name="sneaky", mode="read", text="CREATE (:Sneaky) RETURN 1 AS one")
    with pytest.raises(QueryError):
        fixture_graph.read(sneaky)


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["from=0"], r"needs parameter\(s\) \['to'\]"),
        ([*FOREVER, "colour=red"], "has no parameter 'colour'"),
        (["from=yesterday", "to=1"], "parameter 'from' must be INTEGER \\(found 'yesterday'\\)"),
        (["from"], "must look like key=value"),
    ],
)
def test_parameter_errors_name_the_parameter(
    fixture_graph: GraphClient, pairs: list[str], message: str
) -> None:
    with pytest.raises(QueryParameterError, match=message):
        run_analyst_query(fixture_graph, "data_quality_rejections", pairs)


def test_only_analyst_queries_run(fixture_graph: GraphClient) -> None:
    with pytest.raises(QueryParameterError, match="not an analyst query"):
        run_analyst_query(fixture_graph, "export_users", [])


def test_cli_formats(fixture_graph: GraphClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    args = ["query", "run_history", "--param", "from=0", "--param", "to=4102444800000",
            "--param", "limit=5"]  # fmt: skip
    as_json = runner.invoke(app, [*args, "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    assert [r["run_id"] for r in json.loads(as_json.output)] == ["run-3", "run-2", "run-1"]
    as_csv = runner.invoke(app, [*args, "--format", "csv"])
    assert as_csv.output.splitlines()[0].startswith("run_id,kind,model,status")
    listing = runner.invoke(app, ["query"])
    assert "data_quality_rejections" in listing.output and "run_history" in listing.output
