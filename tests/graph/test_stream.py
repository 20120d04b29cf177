"""The Redis Stream consumer: acknowledged only after commit, so a crash loses nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from core.settings import Settings
from graph.client import GraphClient
from graph.source import apply_source
from graph.stream import RedisStreamSource, publish
from profilegraph.services.redis_server import client as redis_client
from tests.graph.conftest import counts, wipe


def views(n: int, prefix: str) -> list[dict[str, object]]:
    return [
        {
            "type": "interaction",
            "event_id": f"{prefix}-{k}",
            "user_id": f"u{k % 17}",
            "item_id": f"i{k % 11}",
            "kind": "view",
        }
        for k in range(n)
    ]


@pytest.fixture
def stream(settings: Settings, graph: GraphClient) -> Iterator[tuple[redis.Redis, str]]:
    wipe(graph)
    name = f"test:events:{uuid.uuid4().hex}"
    with redis_client(settings.redis) as conn:
        yield conn, name
        conn.delete(name)


def test_consumes_validates_and_acknowledges(
    stream: tuple[redis.Redis, str], graph: GraphClient
) -> None:
    conn, name = stream
    publish(conn, views(8, "a") * 2, stream=name)  # repeated ids inside one batch of 16
    publish(conn, [*views(40, "a")[8:], "{broken json"], stream=name)
    conn.xadd(name, {"other": "field"})  # a message without an event
    consumer = RedisStreamSource(conn, stream=name, batch_size=16, block_ms=100, until_empty=True)
    report = apply_source(graph, consumer)
    assert (report.applied, report.duplicates, report.rejected) == (40, 8, 2)
    assert counts(graph)["views"] == 40
    assert conn.xlen(name) == 0
    assert conn.xpending(name, consumer.group)["pending"] == 0


def _crashing_consumer(name: str, hook: str) -> int:
    """Run a consumer in a child process that dies (os._exit) at ``hook`` on its first batch."""
    script = textwrap.dedent(
        f"""
        import os
        from graph.client import GraphClient
        from graph.source import apply_source
        from graph.stream import RedisStreamSource
        from profilegraph.services.redis_server import client
        from core.settings import load_settings

        settings = load_settings()
        with GraphClient(settings.neo4j) as graph, client(settings.redis) as conn:
            source = RedisStreamSource(conn, stream={name!r}, consumer="crashy",
                                       batch_size=25, block_ms=100, until_empty=True,
                                       {hook}=lambda ids: os._exit(9))
            apply_source(graph, source)
        """
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True).returncode


@pytest.mark.parametrize("hook", ["after_read", "after_commit"])
def test_a_crash_before_acknowledging_loses_and_duplicates_nothing(
    stream: tuple[redis.Redis, str], graph: GraphClient, hook: str
) -> None:
    conn, name = stream
    publish(conn, views(100, hook), stream=name)
    assert _crashing_consumer(name, hook) == 9
    assert conn.xpending(name, "profilegraph-ingest")["pending"] == 25  # read, never acked
    expected_views = 25 if hook == "after_commit" else 0
    assert counts(graph)["views"] == expected_views
    # Another consumer claims the abandoned messages and finishes the stream.
    survivor = RedisStreamSource(
        conn, stream=name, consumer="survivor", batch_size=25, block_ms=100, until_empty=True
    )
    report = apply_source(graph, survivor)
    assert counts(graph)["views"] == 100
    assert report.applied == 100 - expected_views and report.duplicates == expected_views
    assert conn.xlen(name) == 0 and conn.xpending(name, survivor.group)["pending"] == 0


def test_until_empty_means_no_message_is_pending_either(
    stream: tuple[redis.Redis, str], graph: GraphClient
) -> None:
    """A dead consumer's pending messages land in the drain itself, not 60 s later: with the
    default claim_idle_ms, `consume --until-empty` used to report done while 25 were pending."""
    conn, name = stream
    publish(conn, views(60, "drain"), stream=name)
    assert _crashing_consumer(name, "after_read") == 9
    assert conn.xpending(name, "profilegraph-ingest")["pending"] == 25
    drainer = RedisStreamSource(
        conn, stream=name, consumer="drainer", block_ms=100, until_empty=True
    )
    assert drainer.claim_idle_ms == 60_000  # the default: no test shortcut
    report = apply_source(graph, drainer)
    assert report.applied == 60 and counts(graph)["views"] == 60
    assert conn.xpending(name, drainer.group)["pending"] == 0


def test_redis_away_is_waited_out_then_named(graph: GraphClient) -> None:
    """No raw ConnectionError traceback: a consumer whose Redis is gone retries with backoff for
    reconnect_s, then says which service is unreachable."""
    from core.errors import ServiceUnavailable

    nowhere = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    consumer = RedisStreamSource(nowhere, stream="nowhere", reconnect_s=1.0)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match="unreachable for 1 s"):
        apply_source(graph, consumer)
    assert time.monotonic() - started >= 0.5  # it waited, with backoff


def test_lag_counts_what_the_group_has_not_applied(
    stream: tuple[redis.Redis, str], graph: GraphClient
) -> None:
    conn, name = stream
    publish(conn, views(30, "lag"), stream=name)
    consumer = RedisStreamSource(conn, stream=name, batch_size=10, block_ms=100)
    consumer.ensure_group()

    def backlog() -> tuple[int, int, int, int, int]:
        (b,) = consumer.backlog(graph)
        assert (b.source, b.partition) == (f"stream:{name}", consumer.group)
        return b.end, b.applied, b.lag, b.pending, b.counter

    assert backlog() == (30, 0, 30, 0, 0)
    apply_source(graph, consumer, max_batches=1)
    assert backlog() == (30, 10, 20, 0, 10)
    consumer.until_empty = True
    apply_source(graph, consumer)
    assert backlog() == (30, 30, 0, 0, 30)
