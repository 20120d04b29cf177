"""The Kafka source against a real broker (KRaft): positions commit with the data, so a crash
or a rebalance neither loses nor doubles an event; poison messages are dead-lettered with
their partition and offset."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import uuid
from typing import Any

import pytest

from core.settings import Settings
from graph.client import GraphClient
from graph.ingest import committed_position
from graph.kafka_source import KafkaSource, publish, source_name
from graph.queries import Query
from graph.source import apply_source
from profilegraph.services.kafka_server import ensure_topic
from tests.graph.conftest import wipe

VIEWS = Query(name="t_kafka_views", mode="read", text="MATCH ()-[r:VIEWED]->() RETURN r.count AS n")
DEAD = Query(
    name="t_kafka_dead",
    mode="read",
    text="MATCH (r:RejectedEvent) RETURN r.source AS source, r.line AS line, r.field AS field "
    "ORDER BY source, line",
)


def views(n: int, prefix: str, users: int = 23) -> list[dict[str, Any]]:
    return [
        {
            "type": "interaction",
            "event_id": f"{prefix}-{k}",
            "user_id": f"k{k % users}",
            "item_id": f"i{k % 13}",
            "kind": "view",
        }
        for k in range(n)
    ]


def applied_views(graph: GraphClient) -> int:
    return sum(row["n"] for row in graph.read(VIEWS))


@pytest.fixture
def topic(kafka: Settings, graph: GraphClient) -> str:
    wipe(graph)
    name = f"test-{uuid.uuid4().hex[:12]}"
    assert ensure_topic(kafka.kafka, name, 4) == 4
    return name


def test_consumes_exactly_once_and_dead_letters_poison_with_partition_and_offset(
    kafka: Settings, graph: GraphClient, topic: str
) -> None:
    from confluent_kafka import Producer

    publish(kafka.kafka, topic, views(200, "a"))
    producer = Producer(kafka.kafka.client_config())
    producer.produce(topic, value=b"{broken json", partition=1)
    producer.produce(topic, value=json.dumps({**views(1, "b")[0], "kind": "teleport"}), partition=2)
    producer.produce(topic, value=None, partition=3)  # a tombstone: no event at all
    producer.flush(30)
    consumer = KafkaSource(kafka.kafka, topic, group=f"g-{topic}", until_idle_s=2.0)
    report = apply_source(graph, consumer)
    assert (report.applied, report.rejected) == (200, 3)
    assert applied_views(graph) == 200
    dead = graph.read(DEAD)
    assert [(d["source"], d["field"]) for d in dead] == [
        (f"kafka:{topic}/1", "(event)"),  # not JSON
        (f"kafka:{topic}/2", "kind"),
        (f"kafka:{topic}/3", "(message)"),
    ]
    # the line is the offset: the last message of its partition
    from confluent_kafka import Consumer, TopicPartition

    probe = Consumer({**kafka.kafka.client_config(), "group.id": "probe"})
    for row in dead:
        partition = int(row["source"].rsplit("/", 1)[1])
        high = probe.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
        assert row["line"] == high - 1
        assert committed_position(graph, source_name(topic), partition) == high - 1
    probe.close()
    # a second consumer of the group (or a restart) finds nothing left to do
    again = KafkaSource(kafka.kafka, topic, group=f"g-{topic}", until_idle_s=1.0)
    assert apply_source(graph, again).applied == 0


def _consumer_process(topic: str, group: str, *extra: str) -> subprocess.Popen[str]:
    """A consumer in a child process; prints its report as JSON. ``extra``: keyword args."""
    script = textwrap.dedent(
        f"""
        import json, os
        from core.settings import load_settings
        from graph.client import GraphClient
        from graph.kafka_source import KafkaSource
        from graph.source import apply_source

        settings = load_settings()
        with GraphClient(settings.neo4j) as graph:
            source = KafkaSource(settings.kafka, {topic!r}, group={group!r},
                                 until_idle_s=4.0, {", ".join(extra)})
            report = apply_source(graph, source)
            print(json.dumps(report.as_dict()))
        """
    )
    return subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.parametrize("hook", ["after_read", "after_commit"])
def test_a_crash_at_any_point_loses_and_doubles_nothing(
    kafka: Settings, graph: GraphClient, topic: str, hook: str
) -> None:
    publish(kafka.kafka, topic, views(300, hook))
    crashing = _consumer_process(
        topic, f"g-{topic}", "batch_size=25", f"{hook}=lambda *a: os._exit(9)"
    )
    crashing.communicate(timeout=60)
    assert crashing.returncode == 9
    survivor = KafkaSource(kafka.kafka, topic, group=f"g-{topic}", until_idle_s=2.0)
    report = apply_source(graph, survivor)
    assert applied_views(graph) == 300
    committed_first = 25 if hook == "after_commit" else 0
    assert report.applied == 300 - committed_first


def _members_with_partitions(settings: Settings, group: str) -> int:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({**settings.kafka.client_config(), "log_level": 0})
    described = admin.describe_consumer_groups([group])[group].result(timeout=10)
    return sum(1 for m in described.members if m.assignment.topic_partitions)


def test_two_consumers_share_the_partitions_and_a_rebalance_doubles_nothing(
    kafka: Settings, graph: GraphClient, topic: str
) -> None:
    """The second consumer joins while the first is mid-stream (slowed down, so it is): the
    group rebalances with batches in flight; afterwards both hold partitions and apply, and
    every event lands once."""
    group = f"g-{topic}"
    slow = "after_commit=lambda *a: __import__('time').sleep(0.05)"
    first = _consumer_process(topic, group, "batch_size=50", slow)
    publish(kafka.kafka, topic, views(2_000, "one", users=97))
    deadline = time.monotonic() + 60
    while applied_views(graph) == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    second = _consumer_process(topic, group, "batch_size=50", slow)  # joins: a rebalance
    while _members_with_partitions(kafka, group) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert applied_views(graph) < 2_000  # the rebalance came mid-stream
    publish(kafka.kafka, topic, views(2_000, "two", users=97))
    reports = [
        json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in (first, second)
    ]
    assert applied_views(graph) == 4_000
    assert sum(r["applied"] for r in reports) == 4_000
    assert all(r["applied"] > 0 for r in reports)  # the work was shared


def test_lag_per_partition_and_the_consume_command(
    kafka: Settings, graph: GraphClient, topic: str
) -> None:
    """`profilegraph lag` counts what each partition holds beyond Neo4j's position; `consume
    --source kafka --until-empty` applies it all, after which the lag is zero."""
    from typer.testing import CliRunner

    from profilegraph.cli import app

    publish(kafka.kafka, topic, views(120, "lag"))
    runner = CliRunner()
    args = ["lag", "--topic", topic, "--sample-s", "0.2", "--format", "json"]
    before = json.loads(runner.invoke(app, args).stdout)
    kafka_rows = [r for r in before if r["source"] == f"kafka:{topic}"]
    assert len(kafka_rows) == 4 and sum(r["lag"] for r in kafka_rows) == 120
    done = runner.invoke(app, ["consume", "--source", "kafka", "--topic", topic, "--until-empty"])
    assert done.exit_code == 0, done.stdout
    assert "applied 120" in done.stdout
    after = json.loads(runner.invoke(app, args).stdout)
    assert sum(r["lag"] for r in after if r["source"] == f"kafka:{topic}") == 0
    bad = runner.invoke(app, ["consume", "--source", "kafka", "--topic", "no/such topic"])
    assert bad.exit_code != 0 and "topic" in bad.stdout + str(bad.exception)
