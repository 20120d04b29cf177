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
from graph.stream import StreamConsumer, publish
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
    consumer = StreamConsumer(graph, conn, stream=name, batch_size=16, block_ms=100)
    report = consumer.run(until_empty=True)
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
        from graph.stream import StreamConsumer
        from profilegraph.services.redis_server import client
        from core.settings import load_settings

        settings = load_settings()
        with GraphClient(settings.neo4j) as graph, client(settings.redis) as conn:
            consumer = StreamConsumer(graph, conn, stream={name!r}, consumer="crashy",
                                      batch_size=25, block_ms=100,
                                      {hook}=lambda ids: os._exit(9))
            consumer.run(until_empty=True)
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
    survivor = StreamConsumer(
        graph, conn, stream=name, consumer="survivor", batch_size=25, block_ms=100, claim_idle_ms=0
    )
    report = survivor.run(until_empty=True)
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
    drainer = StreamConsumer(graph, conn, stream=name, consumer="drainer", block_ms=100)
    assert drainer.claim_idle_ms == 60_000  # the default: no test shortcut
    report = drainer.run(until_empty=True)
    assert report.applied == 60 and counts(graph)["views"] == 60
    assert conn.xpending(name, drainer.group)["pending"] == 0


def test_redis_away_is_waited_out_then_named(graph: GraphClient) -> None:
    """No raw ConnectionError traceback: a consumer whose Redis is gone retries with backoff for
    reconnect_s, then says which service is unreachable."""
    from core.errors import ServiceUnavailable

    nowhere = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    consumer = StreamConsumer(graph, nowhere, stream="nowhere", reconnect_s=1.0)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match="unreachable for 1 s"):
        consumer._with_reconnect(consumer.pending)
    assert time.monotonic() - started >= 0.5  # it waited, with backoff


def test_lag_counts_what_the_group_has_not_applied(
    stream: tuple[redis.Redis, str], graph: GraphClient
) -> None:
    from jobs.ingest_lag import redis_lag

    conn, name = stream
    publish(conn, views(30, "lag"), stream=name)
    consumer = StreamConsumer(graph, conn, stream=name, batch_size=10, block_ms=100)
    consumer.ensure_group()
    added, read, lag, pending = redis_lag(conn, name)[consumer.group]
    assert (added, read, lag, pending) == (30, 0, 30, 0)
    consumer.run(max_batches=1)
    assert redis_lag(conn, name)[consumer.group][1:] == (10, 20, 0)
    consumer.run(until_empty=True)
    assert redis_lag(conn, name)[consumer.group][2:] == (0, 0)
