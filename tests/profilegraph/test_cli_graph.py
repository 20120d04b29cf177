"""CLI commands over the graph layer: ingest files, consume the stream, export snapshots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.settings import Settings
from engine.snapshot import Snapshot
from graph.client import GraphClient
from graph.stream import publish
from profilegraph.cli import app
from profilegraph.services.redis_server import client as redis_client
from tests.graph.conftest import counts, wipe

runner = CliRunner()


@pytest.fixture
def empty(graph: GraphClient, monkeypatch: pytest.MonkeyPatch) -> GraphClient:
    monkeypatch.setenv("COLUMNS", "200")
    wipe(graph)
    return graph


def test_ingest_jsonl_reports_and_dead_letters(empty: GraphClient, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    good = {"type": "interaction", "event_id": "j1", "user_id": "a", "item_id": "x", "kind": "view"}
    path.write_text(json.dumps(good) + "\n" + '{"type": "interaction", "event_id": "j2"\n\n')
    result = runner.invoke(app, ["ingest", str(path)])
    assert result.exit_code == 0, result.output
    assert "received 2, applied 1, replays skipped 0, rejected 1" in result.output
    assert counts(empty)["views"] == 1 and counts(empty)["rejected"] == 1


def test_ingest_csv_with_categories(empty: GraphClient, tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text(
        "type,event_id,item_id,name,categories\n"
        "item_upsert,c1,i1,Lamp,home|lighting\n"
        "item_upsert,c2,i2,,\n"
    )
    result = runner.invoke(app, ["ingest", str(path)])
    assert result.exit_code == 0, result.output
    assert counts(empty)["items"] == 2 and counts(empty)["categories"] == 2


def test_unsupported_file_type_is_a_clear_error(empty: GraphClient, tmp_path: Path) -> None:
    path = tmp_path / "events.xml"
    path.write_text("<x/>")
    result = runner.invoke(app, ["ingest", str(path)])
    assert result.exit_code != 0 and "unsupported file type '.xml'" in str(result.exception)


def test_consume_drains_the_stream(empty: GraphClient, settings: Settings) -> None:
    stream = "test:cli:events"
    with redis_client(settings.redis) as conn:
        conn.delete(stream)
        publish(
            conn,
            [
                {
                    "type": "follow",
                    "event_id": f"cf{k}",
                    "user_id": f"a{k}",
                    "target_user_id": "hub",
                }
                for k in range(30)
            ],
            stream=stream,
        )
        result = runner.invoke(app, ["consume", "--until-empty", "--stream", stream])
        assert result.exit_code == 0, result.output
        assert "applied 30" in result.output and conn.xlen(stream) == 0
    assert counts(empty)["follows"] == 30


def test_export_writes_a_loadable_snapshot(empty: GraphClient, tmp_path: Path) -> None:
    events = [
        {"type": "follow", "event_id": f"e{k}", "user_id": f"u{k}", "target_user_id": f"u{k + 1}"}
        for k in range(5)
    ]
    path = tmp_path / "f.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events))
    assert runner.invoke(app, ["ingest", str(path)]).exit_code == 0
    out = tmp_path / "snap.pt"
    result = runner.invoke(app, ["export", "--out", str(out), "--user", "u0", "--hops", "2"])
    assert result.exit_code == 0, result.output
    snapshot = Snapshot.load(out)
    assert sorted(snapshot.node_ids["user"]) == ["u0", "u1", "u2"]
