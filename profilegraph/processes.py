"""Celery workers and beat as real child processes, for ``make demo`` and the integration tests.

Each process runs the ``profilegraph`` CLI (``worker --queue Q`` or ``beat``) with the given
environment, logs to a file, and is stopped (terminate, then kill) when the block ends. The
block starts once every worker answers a ping, so work sent inside it is picked up at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

from core.errors import ProcessError
from core.settings import Settings

CLI = [sys.executable, "-c", "from profilegraph.cli import main; main()"]


@contextmanager
def celery_processes(
    settings: Settings,
    *,
    queues: Sequence[str] = ("cpu", "gpu"),
    beat: bool = False,
    env: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
    timeout_s: float = 120,
    replicas: int = 1,
) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    from workers.app import make_app

    environment = {**os.environ, **(env or {})}
    commands = {f"worker-{q}": ["worker", "--queue", q] for q in queues}
    if replicas > 1:  # several workers per queue: each its own node name
        commands = {
            f"worker-{q}-{n}": ["worker", "--queue", q, "--name", f"{q}-{n}"]
            for q in queues
            for n in range(1, replicas + 1)
        }
    if beat:
        commands["beat"] = ["beat"]
    procs: dict[str, subprocess.Popen[bytes]] = {}
    with ExitStack() as stack:
        for name, args in commands.items():
            sink = _sink(stack, log_dir, name)
            procs[name] = subprocess.Popen(
                [*CLI, *args], env=environment, stdout=sink, stderr=subprocess.STDOUT
            )
        stack.callback(_stop, list(procs.values()))
        app = make_app(settings)
        stack.callback(app.close)  # its broker connection: no socket left for the GC
        deadline = time.monotonic() + timeout_s
        while len(app.control.ping(timeout=1.0) or []) < len(queues) * replicas:
            dead = {n: p.returncode for n, p in procs.items() if p.poll() is not None}
            if dead or time.monotonic() > deadline:
                where = f" (logs in {log_dir})" if log_dir else ""
                raise ProcessError(f"workers did not answer a ping: exited {dead}{where}")
        yield procs


def _sink(stack: ExitStack, log_dir: Path | None, name: str) -> IO[bytes]:
    """Where a child process writes: ``<log_dir>/<name>.log``, or nowhere."""
    if log_dir is None:
        return stack.enter_context(open(os.devnull, "wb"))
    log_dir.mkdir(parents=True, exist_ok=True)
    return stack.enter_context((log_dir / f"{name}.log").open("ab"))


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@contextmanager
def flower_process(
    settings: Settings,
    *,
    env: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
    timeout_s: float = 60,
) -> Iterator[subprocess.Popen[bytes]]:
    """``profilegraph flower`` as a child process, yielded once its port answers."""
    from profilegraph.services.process import port_open

    f = settings.flower
    with ExitStack() as stack:
        sink = _sink(stack, log_dir, "flower")
        proc = subprocess.Popen(
            [*CLI, "flower"], env={**os.environ, **(env or {})}, stdout=sink, stderr=sink
        )
        stack.callback(_stop, [proc])
        deadline = time.monotonic() + timeout_s
        while not port_open(f.host, f.port):
            if proc.poll() is not None or time.monotonic() > deadline:
                where = f" (log in {log_dir})" if log_dir else ""
                raise ProcessError(f"Flower did not open {f.url}: exit {proc.poll()}{where}")
            time.sleep(0.3)
        yield proc
