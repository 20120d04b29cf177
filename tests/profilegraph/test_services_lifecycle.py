"""`services up` twice is a no-op and `services down` stops both, on an instance of its own.

This instance uses other ports and another state dir than the session's, so stopping it leaves
the services the other tests use running.
"""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
import warnings
from collections.abc import Iterator

import pytest
import redis
from typer.testing import CliRunner

from core.settings import Settings
from graph.client import GraphClient
from graph.ingest import IngestReport
from graph.queries import Query
from graph.source import ingest_events
from profilegraph import services
from profilegraph.cli import app
from profilegraph.services import redis_server
from profilegraph.services.process import pid_alive, port_open, wait_until
from tests.conftest import OWN_PORTS

VIEWS = Query(
    name="test_views", mode="read", text="MATCH ()-[v:VIEWED]->() RETURN sum(v.count) AS views"
)


def _view(n: int) -> dict[str, object]:
    return {
        "type": "interaction",
        "event_id": f"restart-{n}",
        "user_id": "u1",
        "item_id": f"i{n}",
        "kind": "view",
        "ts": "2024-03-01T12:00:00Z",
    }


@pytest.fixture
def own_instance(
    service_env: object, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    monkeypatch.setenv("PROFILEGRAPH_STATE", str(tmp_path_factory.mktemp("lifecycle")))
    monkeypatch.setenv("PROFILEGRAPH_NEO4J__BOLT_PORT", str(OWN_PORTS["bolt"]))
    monkeypatch.setenv("PROFILEGRAPH_NEO4J__HTTP_PORT", str(OWN_PORTS["http"]))
    monkeypatch.setenv("PROFILEGRAPH_REDIS__PORT", str(OWN_PORTS["redis"]))
    settings = services.settings_with_secrets()
    yield settings
    services.down(settings)


def test_up_twice_is_a_no_op_and_down_stops_both(own_instance: Settings) -> None:
    first = services.up(own_instance)
    assert [s.running for s in first] == [True, True]
    assert first[1].version is not None and "GDS 2.13" in first[1].version

    started = time.monotonic()
    second = services.up(own_instance)
    assert time.monotonic() - started < 15
    assert [s.pid for s in second] == [s.pid for s in first]

    services.down(own_instance)
    stopped = services.status(own_instance)
    assert [(s.running, s.died) for s in stopped] == [(False, False), (False, False)]
    assert not any(pid_alive(s.pid) for s in first)
    assert not port_open("127.0.0.1", OWN_PORTS["bolt"])
    assert not port_open("127.0.0.1", OWN_PORTS["redis"])

    # Restart keeps the data dir and its password: the generated secret is reused.
    again = services.up(own_instance)
    assert [s.running for s in again] == [True, True]

    # A server that dies (kill -9: out of memory, say) is reported as died, and restarted on
    # request only. It dies here in the middle of an ingest, which waits it out: the driver
    # retries a batch for settings.neo4j.retry_s, and a restart must take less (it gave up
    # after 30 s, ~13 s before a loaded server was back).
    killed = threading.Event()

    def events() -> Iterator[dict[str, object]]:
        yield _view(1)
        os.kill(again[1].pid or 0, signal.SIGKILL)
        wait_until(lambda: not pid_alive(again[1].pid), timeout_s=30, what="neo4j to die")
        killed.set()
        yield from (_view(n) for n in (2, 3))

    reports: list[IngestReport | BaseException] = []

    def run_ingest(client: GraphClient) -> None:
        try:
            reports.append(ingest_events(client, events(), source="restart", batch_size=1))
        except BaseException as exc:  # the assertion below shows it
            reports.append(exc)

    with GraphClient(own_instance.neo4j) as client:
        ingest = threading.Thread(target=run_ingest, args=(client,))
        ingest.start()
        assert killed.wait(timeout=60)
        wait_until(lambda: not port_open("127.0.0.1", OWN_PORTS["bolt"]), timeout_s=30, what="port")
        runner = CliRunner()
        shown = runner.invoke(app, ["services", "status"], env={"COLUMNS": "200"})
        assert shown.exit_code == 1 and "died" in shown.output, shown.output
        assert "ended without being stopped" in shown.output
        down_for = time.monotonic()
        restarted = runner.invoke(app, ["services", "status", "--restart"], env={"COLUMNS": "200"})
        down_for = time.monotonic() - down_for
        assert restarted.exit_code == 0, restarted.output
        assert [s.running for s in services.status(own_instance)] == [True, True]
        ingest.join(timeout=own_instance.neo4j.retry_s)
        assert not ingest.is_alive()
        print(f"restart took {down_for:.1f} s; retry window {own_instance.neo4j.retry_s:.0f} s")
        assert down_for < own_instance.neo4j.retry_s / 2  # the window has room to spare
    # the driver drops its connections to the killed server without closing their sockets:
    # let them go here, where that is expected, not as a ResourceWarning in a later test
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    with GraphClient(own_instance.neo4j) as client:
        (report,) = reports
        assert isinstance(report, IngestReport), repr(report)
        assert (report.applied, report.rejected) == (3, 0), report
        assert client.read(VIEWS)[0]["views"] == 3

    # The application's Redis user could SHUTDOWN the server, and `services status` then said
    # "stopped" (Redis removes its pid file on an orderly exit), so `--restart` left it down.
    with (
        redis_server.client(own_instance.redis) as conn,
        pytest.raises(redis.ResponseError, match="no permissions"),
    ):
        conn.shutdown()
    (row,) = [s for s in services.status(own_instance) if s.name == "redis"]
    assert row.running and row.pid is not None
    os.kill(row.pid, signal.SIGTERM)  # an orderly exit nobody asked for
    wait_until(lambda: not pid_alive(row.pid), timeout_s=30, what="redis to exit")
    (gone,) = [s for s in services.status(own_instance) if s.name == "redis"]
    assert gone.died and not gone.running, gone
    restarted = runner.invoke(app, ["services", "status", "--restart"], env={"COLUMNS": "200"})
    assert restarted.exit_code == 0, restarted.output
    assert [s.running for s in services.status(own_instance)] == [True, True]


def test_a_foreign_process_on_the_port_is_reported(
    own_instance: Settings, settings: Settings
) -> None:
    # The session's Redis holds 16379: pointing this instance at that port must fail clearly.
    clash = own_instance.model_copy(
        update={"redis": own_instance.redis.model_copy(update={"port": settings.redis.port})}
    )
    from core.errors import ServiceStartError

    with pytest.raises(ServiceStartError, match="taken by a process that is not this instance"):
        redis_server.start(clash)
