"""Flower against the test broker: loopback only, basic auth, the running workers and a
finished task through its HTTP API."""

from __future__ import annotations

import base64
import gc
import json
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery

from core.settings import Settings
from profilegraph.processes import celery_processes, flower_process
from tests.profilegraph.test_exposure import _listening
from workers.app import make_app


@pytest.fixture(scope="module")
def flower(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    logs = tmp_path_factory.mktemp("flower-logs")
    with (
        celery_processes(settings, log_dir=logs),
        flower_process(settings, log_dir=logs) as proc,
    ):
        yield proc.pid


@pytest.fixture(scope="module")
def sender(settings: Settings) -> Iterator[Celery]:
    app = make_app(settings)
    yield app
    app.close()
    # Celery's control and result connections outlive app.close(); collect them here, where
    # their ResourceWarning is expected, not in whichever test the GC happens to run next
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def _get(settings: Settings, path: str, *, auth: bool = True) -> Any:
    f = settings.flower
    request = urllib.request.Request(f"{f.url}{path}")
    if auth:
        assert f.password is not None
        token = base64.b64encode(f"{f.user}:{f.password.get_secret_value()}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.loads(reply.read())


def _until(what: str, check, timeout_s: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what} within {timeout_s} s"
        time.sleep(0.5)
    return found


def test_flower_shows_the_workers_and_a_finished_task(
    settings: Settings, flower: int, sender: Celery
) -> None:
    names = _until(
        "both workers in Flower",
        lambda: (
            {n.split("@")[0] for n in _get(settings, "api/workers?refresh=1")} >= {"cpu", "gpu"}
        ),
    )
    assert names
    sent = sender.send_task("workers.tasks.ingest_batch", args=[[]], queue="cpu")
    assert sent.get(timeout=60)["received"] == 0
    task = _until(
        "the task in Flower",
        lambda: (
            _get(settings, "api/tasks").get(sent.id, {}).get("state") == "SUCCESS"
            and _get(settings, "api/tasks")[sent.id]
        ),
    )
    assert task["name"] == "workers.tasks.ingest_batch" and task["worker"].startswith("cpu@")


def test_flower_needs_its_password_and_listens_on_loopback(settings: Settings, flower: int) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        _get(settings, "api/workers", auth=False)
    assert refused.value.code == 401
    # /metrics too (Flower leaves it open): task and worker names are not for anyone
    with pytest.raises(urllib.error.HTTPError) as metrics_refused:
        _get(settings, "metrics", auth=False)
    assert metrics_refused.value.code == 401
    f = settings.flower
    assert f.password is not None
    token = base64.b64encode(f"{f.user}:{f.password.get_secret_value()}".encode()).decode()
    asked = urllib.request.Request(f"{f.url}metrics", headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(asked, timeout=10) as reply:  # with it, the metrics answer
        assert b"flower_" in reply.read()
    addresses = _listening(flower)
    assert addresses and all(
        a.startswith(("127.0.0.1:", "::ffff:7f00:1:", "::1:")) for a in addresses
    ), addresses
