"""Two worker processes per queue (what ``docker compose up --scale worker-cpu=2`` runs): one
refresh at a time, each step once per run, and a whole worker's death loses nothing."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from core.settings import Settings
from graph.client import GraphClient
from graph.datasets.synthetic import SyntheticConfig, generate, synthetic_events
from graph.source import ingest_events
from jobs.payloads import RefreshRequest
from jobs.refresh import LockLost, begin_step, fail_run, plan_refresh
from jobs.runs import TERMINAL, RunBoard
from profilegraph.processes import celery_processes
from tests.graph.conftest import wipe
from tests.workers.test_refresh import CONSISTENT, _submit, _wait


@pytest.fixture(scope="module")
def scaled(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    with GraphClient(settings.neo4j) as client:
        wipe(client)
        data = generate(SyntheticConfig(n_users=200, n_items=80, seed=4))
        ingest_events(client, synthetic_events(data), source="syn")
    env = {
        "PROFILEGRAPH_REFRESH__MAX_EPOCHS": "3",
        "PROFILEGRAPH_TRAINING__DEVICE": "cpu",
        "PROFILEGRAPH_REFRESH__WRITE_BATCH_SIZE": "4",  # 50 write transactions
        # a lost worker's unacknowledged step comes back after 2 x 10 s (a step here takes a
        # few seconds, and its heartbeat keeps the run's lock while it runs)
        "PROFILEGRAPH_REFRESH__LOCK_TTL_S": "10",
    }
    logs = tmp_path_factory.mktemp("scaled-worker-logs")
    with celery_processes(settings, env=env, log_dir=logs, replicas=2) as procs:
        yield procs


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_two_workers_per_queue_run_each_step_once(
    scaled: dict, sender: Celery, board: RunBoard, graph: GraphClient
) -> None:
    assert len(scaled) == 4 and all(p.poll() is None for p in scaled.values())
    first = _submit(sender, board, mode="full")
    # submitted together, either could be planned first (two workers take the cpu queue):
    # the second comes once the first holds the lock, and a free worker must still refuse it
    deadline = time.monotonic() + 60
    while (state := board.get(first).get("state")) == "submitted":
        assert time.monotonic() < deadline, "the first run was never planned"
        time.sleep(0.01)
    assert state not in TERMINAL, state  # planned, holding the lock: not refused, not done
    second = _submit(sender, board, mode="full")
    assert _wait(board, second)["state"] == "refused"
    info = _wait(board, first)
    assert info["state"] == "complete", info
    starts = {k: v for k, v in info.items() if k.endswith("_starts")}
    assert starts and set(starts.values()) == {"1"}, starts  # every step ran once
    assert graph.read(CONSISTENT) == [{"run_id": first, "users": 200, "edges_agree": 200}]


def test_a_killed_worker_machine_loses_nothing(
    scaled: dict, sender: Celery, board: RunBoard, graph: GraphClient
) -> None:
    """kill -9 of a whole cpu worker (its main process and its pool child, as when its machine
    goes) mid write-back: the other cpu worker gets the step back and finishes the run."""
    run_id = _submit(sender, board, mode="full")
    deadline = time.monotonic() + 240
    while not (
        (info := board.get(run_id)).get("step") == "write" and float(info.get("percent", 0)) > 80
    ):
        assert info.get("state") not in ("complete", "failed"), f"finished first: {info}"
        assert time.monotonic() < deadline, info
        time.sleep(0.002)
    child = int(info["pid"])
    parent = _ppid(child)
    victim = next(name for name, p in scaled.items() if p.pid == parent)
    assert victim.startswith("worker-cpu")
    os.kill(parent, signal.SIGKILL)
    os.kill(child, signal.SIGKILL)
    info = _wait(board, run_id, timeout=180)
    assert info["state"] == "complete", info
    assert info["write_starts"] == "2" and _ppid(int(info["pid"])) != parent
    assert info["export_starts"] == info["train_starts"] == "1"
    assert graph.read(CONSISTENT) == [{"run_id": run_id, "users": 200, "edges_agree": 200}]


def test_a_redelivered_step_takes_back_a_lapsed_lock_or_ends_its_run(
    settings: Settings, board: RunBoard
) -> None:
    """The lock's TTL runs out while a dead worker's step waits for redelivery: the step takes
    the lock back if it is free; if another run took it meanwhile, this run fails (LockLost)
    and the other one keeps the lock."""
    _, step = plan_refresh(settings, board, RefreshRequest(mode="full", source="test"))
    assert step is not None
    try:
        board.release(step.run_id)  # lapsed
        begin_step(settings, board, step.model_dump(), "export")
        assert board.holder() == step.run_id
        board.release(step.run_id)
        assert board.acquire("t-other-run") is None  # a newer run started meanwhile
        with pytest.raises(LockLost, match="t-other-run"):
            begin_step(settings, board, step.model_dump(), "train")
        assert board.holder() == "t-other-run"
    finally:
        board.release("t-other-run")
        fail_run(settings, board, step.run_id, RuntimeError("test over"))
