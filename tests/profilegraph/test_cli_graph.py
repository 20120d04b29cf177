"""CLI commands over the graph layer: ingest files, consume the stream, export snapshots."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.settings import Settings
from engine.snapshot import Snapshot
from graph.client import GraphClient
from graph.queries import Query
from graph.stream import publish
from jobs.private_aggregates import BudgetExhausted, BudgetLedger
from jobs.pseudonyms import Pseudonyms
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


@pytest.mark.parametrize("name", ["cpu 2", "cpu@other", "x" * 65])
def test_a_bad_worker_name_is_refused_before_anything_starts(service_env: Path, name: str) -> None:
    result = runner.invoke(app, ["worker", "--queue", "cpu", "--name", name])
    assert result.exit_code != 0 and "--name must be" in str(result.exception)
    assert repr(name) in str(result.exception)


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
    snapshot = Snapshot.load(out)  # pseudonymous by default; the mapping stays in the state dir
    assert sorted(snapshot.node_ids["user"]) == ["#u0", "#u1", "#u2"]
    assert b"u1" not in out.read_bytes().replace(b"#u1", b"")
    assert snapshot.selection["user_ids"] == "1 (withheld)"
    mapping = Pseudonyms.load(
        Path(result.output.split("mapping back to ids is ")[1].split()[0]).parent
    )
    assert mapping is not None
    assert sorted(mapping.resolve("user", u) or "" for u in snapshot.node_ids["user"]) == [
        "u0",
        "u1",
        "u2",
    ]
    result = runner.invoke(app, ["export", "--out", str(out), "--user", "u0", "--with-ids"])
    assert result.exit_code == 0, result.output
    assert sorted(Snapshot.load(out).node_ids["user"]) == ["u0", "u1"]


SEGMENTS = Query(
    name="test_segments",
    mode="write",
    text="""
    UNWIND range(0, 104) AS n
    CREATE (:User {user_id: 'dp' + n, profile_segment: CASE WHEN n < 100 THEN 0 ELSE 1 END,
                   profile_segment_label: 'big', profile_influence: 1.0,
                   profile_cold_start: n % 4 = 0})
    """,
)


def test_private_aggregates_from_the_cli(
    empty: GraphClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty.write(SEGMENTS)
    ledger = BudgetLedger(settings.state / "privacy", settings.neo4j.database, total=1e9)
    monkeypatch.setenv("PROFILEGRAPH_PRIVACY__DP_TOTAL_EPSILON", str(ledger.spent() + 1.5))
    args = ["query", "segment_summary", "--format", "json", "--dp-epsilon", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "1 group(s) suppressed below 20" in result.output  # the segment of five
    rows = json.loads(result.stdout)  # the note went to stderr: stdout stays JSON
    assert len(rows) == 1 and rows[0]["segment"] == 0
    assert abs(rows[0]["users"] - 100) < 40 and rows[0]["mean_influence"] is None
    refused = runner.invoke(app, args)  # 1 + 1 > 1.5
    assert refused.exit_code != 0  # main() prints library errors; here they surface whole
    assert isinstance(refused.exception, BudgetExhausted)
    assert "privacy budget of data set 'neo4j'" in str(refused.exception)
    # the same database by another spelling (Neo4j's names are case-insensitive): one budget
    monkeypatch.setenv("PROFILEGRAPH_NEO4J__DATABASE", settings.neo4j.database.upper())
    respelt = runner.invoke(app, args)
    assert isinstance(respelt.exception, BudgetExhausted), respelt.output
    monkeypatch.delenv("PROFILEGRAPH_NEO4J__DATABASE")
    exact = runner.invoke(app, ["query", "segment_summary", "--format", "json"])
    assert exact.exit_code == 0 and '"users": 5' in exact.output  # exact: the team's own view


def test_ctrl_c_stops_an_ingest_within_seconds(settings: Settings, tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) during a long ingest ends it promptly with a non-zero exit; what was
    committed stays, and the rest can be ingested again later."""
    import signal
    import subprocess
    import sys
    import time

    from graph.queries import Query

    applied = Query(
        name="t_sigint",
        mode="read",
        text="MATCH (:User)-[r:VIEWED]->(i:Item) "
        "WHERE i.item_id STARTS WITH 'si' RETURN count(r) AS n",
    )
    path = tmp_path / "many.jsonl"
    with path.open("w") as handle:
        for n in range(200_000):
            event = {
                "type": "interaction",
                "event_id": f"sigint-{n}",
                "user_id": f"s{n % 5000}",
                "item_id": f"si{n % 700}",
                "kind": "view",
            }
            handle.write(json.dumps(event) + "\n")
    command = [sys.executable, "-m", "profilegraph", "ingest", str(path)]
    # small batches: the ingest lasts well over the seconds the test needs, however fast a
    # batch is (the ingest procedure made 10,000-event batches fast enough to finish first)
    env = {**os.environ, "PROFILEGRAPH_NEO4J__BATCH_SIZE": "200"}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    ) as proc:
        deadline = time.monotonic() + 120
        with GraphClient(settings.neo4j) as graph:  # wait until batches are landing
            while graph.read(applied)[0]["n"] == 0:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert proc.poll() is None  # 1,000 batches of 200 last far longer than this test
        # hold an item the next batches write, so the ingest waits on the server when Ctrl-C
        # comes: a KeyboardInterrupt there left the driver rolling back on a connection in the
        # middle of a message (over two minutes, reproduced; 36 s in a suite run)
        with (
            GraphClient(settings.neo4j) as holder,
            holder._driver.session(database=settings.neo4j.database) as session,
        ):
            lock = session.begin_transaction()
            lock.run("MERGE (i:Item {item_id: 'si5'}) SET i.held = true").consume()
            time.sleep(3)
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            output = proc.communicate(timeout=60)[0] or b""
            lock.rollback()
        assert time.monotonic() - sent < 10, output.decode(errors="replace")[-3000:]
        assert proc.returncode == 130, output.decode(errors="replace")[-3000:]
        assert b"interrupted" in output
