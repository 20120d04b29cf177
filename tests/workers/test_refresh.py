"""Refreshes through real Celery worker processes (cpu and gpu queues) on real Redis + Neo4j."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from core.settings import Settings
from graph.client import GraphClient
from graph.datasets.synthetic import SyntheticConfig, generate, synthetic_events
from graph.queries import Query
from graph.source import ingest_events
from graph.writeback import read_run
from jobs.runs import TERMINAL, RunBoard
from profilegraph.jobs_cli import follow_evaluation, refresh_and_follow
from profilegraph.processes import celery_processes
from profilegraph.services import neo4j_server
from tests.graph.conftest import wipe

CONSISTENT = Query(
    name="test_consistent",
    mode="read",
    text="""
    MATCH (u:User)
    RETURN u.profile_run_id AS run_id, count(*) AS users,
           sum(CASE WHEN COLLECT { MATCH (u)-[r:INTERESTED_IN]->(c) RETURN c.name ORDER BY r.rank }
                         = u.profile_interests THEN 1 ELSE 0 END) AS edges_agree
""",
)
PROFILED = Query(
    name="test_profiled",
    mode="read",
    text="""
    MATCH (u:User) RETURN u.user_id AS user_id, u.profile_run_id AS run_id,
    u.profile_interests AS interests, size(u.profile_embedding) AS dim,
    COUNT { (u)-[:RECOMMENDED]->() } AS recommended, COUNT { (u)-[:NEXT_CATEGORY]->() } AS next
""",
)


@pytest.fixture(scope="module")
def loaded(settings: Settings) -> Iterator[None]:
    with GraphClient(settings.neo4j) as client:
        wipe(client)
        data = generate(SyntheticConfig(n_users=300, n_items=120, seed=2))
        ingest_events(client, synthetic_events(data), source="syn")
    yield


@pytest.fixture(scope="module")
def worker_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("worker-logs")


@pytest.fixture(scope="module")
def workers(settings: Settings, loaded: None, worker_logs: Path) -> Iterator[None]:
    env = {
        "PROFILEGRAPH_REFRESH__MAX_EPOCHS": "4",
        "PROFILEGRAPH_REFRESH__FINETUNE_EPOCHS": "1",
        "PROFILEGRAPH_TRAINING__DEVICE": "cpu",
        "PROFILEGRAPH_TRAINING__PATIENCE": "100000",  # a run asked for many epochs trains them
        "PROFILEGRAPH_TRAINING__WARM_PATIENCE": "100000",  # warm-started ones too
        "PROFILEGRAPH_REFRESH__WRITE_BATCH_SIZE": "5",  # 60 write transactions: time to kill one
    }
    with celery_processes(settings, env=env, log_dir=worker_logs):
        yield


def _submit(sender: Celery, board: RunBoard, **request: Any) -> str:
    run_id = request.setdefault("run_id", f"t-{time.monotonic_ns()}")
    request.setdefault("source", "test")
    board.update(run_id, state="submitted")
    sender.send_task("workers.tasks.refresh", kwargs={"request": request})
    return run_id


def _wait(board: RunBoard, run_id: str, timeout: float = 240) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while (info := board.get(run_id)).get("state") not in TERMINAL:
        assert time.monotonic() < deadline, f"run {run_id} stuck: {info}"
        time.sleep(0.3)
    return info


def _wait_for_training(board: RunBoard, run_id: str, timeout: float = 120) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while not (info := board.get(run_id)).get("step", "").startswith("train epoch"):
        assert info.get("state") not in TERMINAL, info
        assert time.monotonic() < deadline, info
        time.sleep(0.05)
    return info


def test_full_then_incremental_refresh(
    workers: None, sender: Celery, board: RunBoard, graph: GraphClient
) -> None:
    full = _submit(sender, board, mode="full")
    assert _wait(board, full)["state"] == "complete"
    rows = graph.read(PROFILED)
    assert len(rows) == 300
    assert all(r["run_id"] == full and r["interests"] and r["dim"] == 64 for r in rows)
    # every profile came with its list and its next categories, through the real workers
    assert all(r["recommended"] == 10 and r["next"] >= 1 for r in rows)
    run = read_run(graph, full)
    assert run is not None and run["status"] == "complete" and run["profiles_written"] == 300
    assert board.holder() is None  # the lock was released

    new = [
        {
            "type": "interaction",
            "event_id": f"new{i}",
            "user_id": f"u{i}",
            "item_id": "i3",
            "kind": "purchase",
        }
        for i in (1, 2)
    ]
    ingest_events(graph, new, source="test")
    inc = _submit(sender, board, mode="incremental")
    info = _wait(board, inc)
    assert info["state"] == "complete", info
    by_user = {r["user_id"]: r["run_id"] for r in graph.read(PROFILED)}
    assert by_user["u1"] == inc and by_user["u2"] == inc
    # the new purchase reached their lists: a bought item is never recommended again
    for user in ("u1", "u2"):
        listed = [r["item_id"] for r in graph.read("recommendations_for_user", user_id=user)]
        assert len(listed) == 10 and "i3" not in listed
    refreshed = sum(1 for v in by_user.values() if v == inc)
    assert refreshed == int(info["written"]) and refreshed < 300  # only what changed


def test_second_refresh_is_refused_while_one_runs(
    workers: None, sender: Celery, board: RunBoard
) -> None:
    first = _submit(sender, board, mode="full")
    second = _submit(sender, board, mode="full")
    assert _wait(board, second)["state"] == "refused"
    assert board.get(second)["message"] == f"refresh {first} is still running"
    assert _wait(board, first)["state"] == "complete"


def test_a_refresh_can_wait_for_the_running_one(
    workers: None, sender: Celery, board: RunBoard
) -> None:
    """What `submit refresh --wait` and the demo do when beat's refresh got there first."""
    first = _submit(sender, board, mode="full")

    def send(request: dict[str, Any]) -> None:
        sender.send_task("workers.tasks.refresh", kwargs={"request": request})

    info = refresh_and_follow(board, send, "full", wait_for_running=True)
    assert info["waited_for"] == first  # refused once, while the first one ran
    assert info["state"] == "complete" and info["run_id"] != first
    assert board.get(first)["state"] == "complete"
    alone = refresh_and_follow(board, send, "full")  # nothing running: no wait
    assert alone["state"] == "complete" and alone["waited_for"] == ""


def test_cancel_stops_the_run_at_the_next_step(
    workers: None, sender: Celery, board: RunBoard, graph: GraphClient
) -> None:
    run_id = f"cancel-{time.monotonic_ns()}"
    board.update(run_id, state="submitted")
    assert board.request_cancel(run_id)
    request = {"mode": "full", "run_id": run_id, "source": "test"}
    sender.send_task("workers.tasks.refresh", kwargs={"request": request})
    assert _wait(board, run_id)["state"] == "cancelled"
    run = read_run(graph, run_id)
    assert run is not None and run["status"] == "cancelled"
    assert board.holder() is None


def test_bad_payload_is_rejected_naming_the_field(workers: None, sender: Celery) -> None:
    result = sender.send_task("workers.tasks.refresh", kwargs={"request": {"mode": "weekly"}})
    with pytest.raises(Exception, match=r"mode.*weekly"):
        result.get(timeout=60)


def test_worker_killed_during_write_back_is_redelivered(
    workers: None, sender: Celery, board: RunBoard, graph: GraphClient
) -> None:
    run_id = _submit(sender, board, mode="full")
    deadline = time.monotonic() + 240
    # wait until at least two of the 60 write batches have committed, then kill -9 the process
    while not (
        (info := board.get(run_id)).get("step") == "write" and float(info.get("percent", 0)) > 80
    ):
        assert info.get("state") not in TERMINAL, f"finished before the kill: {info}"
        assert time.monotonic() < deadline, info
        time.sleep(0.002)
    killed = int(info["pid"])
    os.kill(killed, signal.SIGKILL)
    info = _wait(board, run_id)
    assert info["state"] == "complete", info
    assert info["write_starts"] == "2" and int(info["pid"]) != killed  # redelivered, finished
    # every user ends on this run's complete profile, interest edges and properties agreeing
    assert graph.read(CONSISTENT) == [{"run_id": run_id, "users": 300, "edges_agree": 300}]


def test_evaluate_a_run(
    workers: None,
    sender: Celery,
    board: RunBoard,
    graph: GraphClient,
    tmp_path: Path,
    settings: Settings,
) -> None:
    run_id = _submit(sender, board, mode="full")
    assert _wait(board, run_id)["state"] == "complete"
    # a message names no folder: one that tries is refused, naming the field, and writes none
    forged = {"run_id": run_id, "out_dir": str(tmp_path / "elsewhere")}
    refused = sender.send_task("workers.tasks.evaluate_run", kwargs={"request": forged})
    with pytest.raises(Exception, match=r"out_dir: Extra inputs are not permitted"):
        refused.get(timeout=60)
    assert not (tmp_path / "elsewhere").exists()
    request = {"run_id": run_id}
    done = sender.send_task("workers.tasks.evaluate_run", kwargs={"request": request})
    result = follow_evaluation(board, run_id, done, timeout_s=240)  # what the demo shows
    progress = board.get(run_id)
    assert (progress["evaluation"], progress["evaluation_percent"]) == ("done", "100")
    assert set(result["evaluation"]["influence"]) >= {"model", "pagerank", "degree"}
    names = {Path(f).name for f in result["files"]}
    assert names >= {
        "evaluation.md",
        "influence_distribution.png",
        "interest_heatmap.png",
        "training_curve.png",
    }
    assert all(Path(f).stat().st_size > 0 for f in result["files"])
    folder = {Path(f).parent for f in result["files"]}
    assert folder == {(settings.state / "runs" / run_id / "evaluation").resolve()}
    run = read_run(graph, run_id)
    assert run is not None
    # the run's provenance says which influence score it shipped, and the report repeats it
    choice = run["metrics"]["influence"]
    valid = choice["validation"]
    baselines = {name: m["spearman"] for name, m in valid.items() if name != "model"}
    # the model only where it significantly beats the best baseline; else that baseline
    assert choice["comparison"]["baseline"] == max(baselines, key=baselines.__getitem__)
    expected = (
        "model" if choice["comparison"]["verdict"] == "beats" else choice["comparison"]["baseline"]
    )
    assert choice["shipped"] == expected
    report = next(Path(f) for f in result["files"] if f.endswith("evaluation.md")).read_text()
    assert f"the run ships **{choice['shipped']}** as `profile_influence`" in report
    stored = graph.read(
        Query(
            name="t", mode="read", text="MATCH (r:ProfileRun {run_id: $r}) RETURN r.evaluation AS e"
        ),
        r=run_id,
    )[0]["e"]
    assert json.loads(stored)["influence"] == result["evaluation"]["influence"]
    bad = sender.send_task("workers.tasks.evaluate_run", kwargs={"request": {"run_id": "no-such"}})
    with pytest.raises(Exception, match=r"run_id: run 'no-such' has no result"):
        bad.get(timeout=60)


def test_neo4j_unreachable_for_a_while_means_retries_not_failure(
    workers: None, sender: Celery, board: RunBoard, settings: Settings
) -> None:
    """One retry policy, one outage: a refresh and an ingest_batch (which talks to Neo4j, not
    Redis) sent while Neo4j is down both retry with backoff (the driver first retries for
    30 s) and complete once the server is back."""
    event = {
        "type": "interaction",
        "event_id": f"retry-{time.monotonic_ns()}",
        "user_id": "u7",
        "item_id": "i5",
        "kind": "view",
    }
    neo4j_server.stop(settings)
    try:
        run_id = _submit(sender, board, mode="full")
        sent = sender.send_task(
            "workers.tasks.ingest_batch", args=([event],), kwargs={"source": "test"}
        )
        deadline = time.monotonic() + 150
        seen_retry = False
        while int(board.get(run_id).get("refresh_attempts", 0)) < 2 or not seen_retry:
            assert board.get(run_id).get("state") not in TERMINAL, board.get(run_id)
            seen_retry = seen_retry or sent.state == "RETRY"
            assert sent.state not in ("FAILURE", "SUCCESS"), sent.state
            assert time.monotonic() < deadline, f"no retry seen: {board.get(run_id)} {sent.state}"
            time.sleep(0.5)
    finally:
        neo4j_server.start(settings)
    info = _wait(board, run_id, timeout=300)
    assert info["state"] == "complete", info
    assert sent.get(timeout=300)["applied"] == 1


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({"run_id": "..", "mode": "full", "watermark": 1}, "run_id"),
        (
            {"run_id": "ok", "mode": "full", "watermark": 1, "result_path": "/etc/passwd"},
            "result_path",
        ),
        (
            {"run_id": "never-planned", "mode": "full", "watermark": 999_999_999},
            "not a planned run",
        ),
        ({"run_id": "x", "mode": "incremental", "watermark": 5}, "since"),
    ],
)
def test_forged_step_messages_are_refused(
    workers: None,
    sender: Celery,
    board: RunBoard,
    settings: Settings,
    payload: dict[str, Any],
    named: str,
) -> None:
    """Paths come from the run id inside the state dir, never from a message; a step for a run
    that was never planned (or at another watermark) is refused and touches no run."""
    sent = sender.send_task("workers.tasks.write_step", args=(payload,))
    with pytest.raises(Exception, match=named):
        sent.get(timeout=60)
    assert not (settings.state / "runs" / "never-planned").exists()
    assert board.get("never-planned").get("state") is None  # no run was failed or created


def test_a_malformed_message_is_dead_lettered_and_the_worker_goes_on(
    workers: None, sender: Celery, settings: Settings
) -> None:
    """Text that is no message envelope, pushed straight onto the cpu queue, ended the worker
    ("Unrecoverable error"); now it lands in the dead-letter list and queued work still runs."""
    from workers.transport import DEAD_MESSAGES

    conn = redis.Redis.from_url(settings.redis.url())
    before = conn.llen(DEAD_MESSAGES)
    for junk in (b"not json", b"42", b"{}", b"[1, 2]", b"\xff\xfe"):
        conn.lpush("cpu", junk)
    event = {
        "type": "interaction",
        "event_id": f"after-junk-{time.monotonic_ns()}",
        "user_id": "u8",
        "item_id": "i6",
        "kind": "view",
    }
    sent = sender.send_task("workers.tasks.ingest_batch", args=([event],))
    assert sent.get(timeout=60)["applied"] == 1
    assert conn.llen(DEAD_MESSAGES) - before == 5
    kept = conn.lrange(DEAD_MESSAGES, 0, -1)
    assert b"not json" in kept
    assert {b"[1, 2]", b"42", b"{}"} <= set(kept)  # JSON that is no envelope: kept as it came


@pytest.mark.parametrize("body", ["a string", 42, {"an": "object"}, None, [["args"], {}]])
def test_a_task_body_celery_cannot_unpack_is_acknowledged_and_dead_lettered(
    workers: None, sender: Celery, settings: Settings, body: object
) -> None:
    """A well-formed envelope naming a real task, whose body is not ``[args, kwargs, embed]``:
    it stayed unacknowledged, held each cpu worker's one prefetch slot, and came back after a
    restart. Now it is acknowledged and kept whole as a dead letter; later work runs."""
    from kombu import uuid

    from workers.transport import DEAD_MESSAGES

    conn = redis.Redis.from_url(settings.redis.url())
    before = conn.llen(DEAD_MESSAGES)
    marker = f"poison-{uuid()}"
    envelope = sender.amqp.as_task_v2(marker, "workers.tasks.ingest_batch", args=([],))
    with sender.producer_or_acquire() as producer:
        for _ in range(4):  # more than the cpu workers' prefetch slots together
            producer.publish(
                body,
                exchange="",
                routing_key="cpu",
                headers=envelope.headers,
                serializer="json",
                retry=True,
            )
    event = {
        "type": "interaction",
        "event_id": f"after-poison-{time.monotonic_ns()}",
        "user_id": "u8",
        "item_id": "i6",
        "kind": "view",
    }
    sent = sender.send_task("workers.tasks.ingest_batch", args=([event],))
    assert sent.get(timeout=60)["applied"] == 1
    deadline = time.monotonic() + 30
    while conn.llen(DEAD_MESSAGES) - before < 4:
        assert time.monotonic() < deadline, conn.llen(DEAD_MESSAGES) - before
        time.sleep(0.2)
    kept = [json.loads(m) for m in conn.lrange(DEAD_MESSAGES, 0, 3)]
    assert all(m["headers"]["id"] == marker for m in kept)  # the message, not an error's text
    # nothing of it waits unacknowledged for a restart to bring it back
    unacked = conn.hgetall("unacked")
    assert not any(marker.encode() in raw for raw in unacked.values())


def test_a_run_id_names_one_run_however_often_it_is_sent(
    workers: None, sender: Celery, board: RunBoard, graph: GraphClient
) -> None:
    """The same run id sent twice ran two refreshes side by side (the lock took the id as its
    own holder), and a finished run's id sent again redid it under the old record. A run id is
    claimed by the first request that names it; every other request naming it is refused and
    the run is left alone."""
    deadline = time.monotonic() + 240
    while board.holder() is not None:  # an earlier test's run: wait for the lock to be free
        assert time.monotonic() < deadline, board.holder()
        time.sleep(0.5)
    run_id = f"t-reused-{time.monotonic_ns()}"
    request = {"mode": "full", "run_id": run_id, "source": "test"}
    sent = [sender.send_task("workers.tasks.refresh", kwargs={"request": request}) for _ in "ab"]
    answers = [s.get(timeout=60) for s in sent]
    assert sorted(a["state"] for a in answers) == ["refused", "started"], answers
    refused = next(a for a in answers if a["state"] == "refused")
    assert "already used" in refused["reason"]
    assert _wait(board, run_id)["state"] == "complete"
    done = read_run(graph, run_id)
    assert done is not None and done["status"] == "complete"
    again = sender.send_task("workers.tasks.refresh", kwargs={"request": request}).get(timeout=60)
    assert again["state"] == "refused" and "already used" in again["reason"]
    time.sleep(2)  # a second run would have started by now
    assert board.holder() is None
    after = read_run(graph, run_id)
    assert after is not None and after["finished_at"] == done["finished_at"]
    assert after["watermark"] == done["watermark"]


def test_a_refresh_that_does_not_complete_exits_non_zero(
    workers: None, sender: Celery, board: RunBoard
) -> None:
    """`profilegraph submit refresh` exits 1 when the run it followed ends refused, failed or
    cancelled, so scripts can tell; 0 when it completes."""
    from typer.testing import CliRunner

    from profilegraph.cli import app

    first = _submit(sender, board, mode="full")
    refused = CliRunner().invoke(app, ["submit", "refresh", "--mode", "full"])
    assert refused.exit_code == 1, refused.output
    assert "refused" in refused.output
    assert _wait(board, first)["state"] == "complete"
    done = CliRunner().invoke(app, ["submit", "refresh", "--mode", "incremental"])
    assert done.exit_code == 0, done.output


def test_cancel_stops_training_between_epochs(
    workers: None, sender: Celery, board: RunBoard, graph: GraphClient
) -> None:
    """A cancel requested while the model trains ends the run at the next epoch, not after
    training (this run asks for 100,000 epochs and would otherwise train for hours)."""
    run_id = _submit(sender, board, mode="full", max_epochs=100_000)
    info = _wait_for_training(board, run_id)
    assert board.request_cancel(run_id)
    info = _wait(board, run_id, timeout=60)
    assert info["state"] == "cancelled", info
    assert info["step"].startswith("train epoch"), info  # stopped inside training
    assert int(info["step"].split()[-1]) < 100_000
    run = read_run(graph, run_id)
    assert run is not None and run["status"] == "cancelled"
    assert board.holder() is None


def test_a_step_keeps_its_lock_alive_while_it_runs(settings: Settings) -> None:
    """The heartbeat renews the lock while a step runs longer than the lock's TTL."""
    board = RunBoard(redis.Redis.from_url(settings.redis.url()), lock_ttl_s=2)
    run_id = f"beat-{time.monotonic_ns()}"
    assert board.acquire(run_id) is None
    with board.heartbeat(run_id, every_s=0.5):
        time.sleep(5)  # 2.5 TTLs
        assert board.holder() == run_id
    time.sleep(2.5)
    assert board.holder() is None  # without heartbeats the lock expires


def test_a_training_process_that_dies_is_replaced_and_the_run_completes(
    workers: None, sender: Celery, board: RunBoard
) -> None:
    """kill -9 of the process that trains (what stopping a solo-pool worker did to its task):
    the gpu worker's parent puts the task back and the run completes, not fails."""
    run_id = _submit(sender, board, mode="full", max_epochs=40)
    info = _wait_for_training(board, run_id)
    killed = int(info["pid"])
    os.kill(killed, signal.SIGKILL)
    info = _wait(board, run_id)
    assert info["state"] == "complete", info
    assert info["train_starts"] == "2" and int(info["pid"]) != killed


def test_worker_banners_and_logs_say_what_is_true(workers: None, worker_logs: Path) -> None:
    """Last in this module, after hours of simulated training: the gpu worker says it runs one
    task at a time, and no worker warned of clock drift (gossip took a busy worker's silence
    for hours of drift)."""
    gpu = (worker_logs / "worker-gpu.log").read_text()
    assert "concurrency: 1 (prefork)" in gpu, gpu[:2000]
    for log in worker_logs.glob("*.log"):
        assert "drift" not in log.read_text().lower(), log.name
