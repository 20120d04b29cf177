"""An ingest with a live progress bar (elapsed time, an estimate when the total is known) and a
summary of what was applied, skipped and rejected: the CLI's ingest and consume commands and the
demo."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from core.settings import Settings
from graph.client import GraphClient
from graph.source import Source
from jobs.consume import consume

console = Console()


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def consume_with_progress(settings: Settings, source: Source, *, drain: bool = True) -> None:
    """Apply ``source`` (``jobs.consume``) with a progress bar whose total is what the source
    holds and has not applied (when ``drain``: a stream or a topic is read until it is empty),
    then a summary."""
    with _exit_on_ctrl_c(), GraphClient(settings.neo4j) as client, progress_bar() as progress:
        behind = sum(b.lag for b in source.backlog(client)) if drain else 0
        task = progress.add_task(f"ingest {source.name}", total=behind or None)
        report = consume(
            settings, client, source, on_batch=lambda r: progress.advance(task, r.received)
        )
    console.print(
        f"received {report.received:,}, applied {report.applied:,}, "
        f"replays skipped {report.duplicates:,}, rejected {report.rejected:,} "
        f"(change epoch {report.epoch})"
    )
    for reason, n in report.rejected_by_reason.most_common(10):
        console.print(f"  [yellow]rejected[/] {n:,} x {reason}", highlight=False)


@contextmanager
def _exit_on_ctrl_c() -> Iterator[None]:
    """Ctrl-C (SIGINT) ends the process at once, non-zero. Committed batches are committed; the
    one in flight rolls back on the server when the connection goes. A KeyboardInterrupt is not
    enough: raised while the driver waits for the server's answer, it leaves the driver rolling
    back on a connection in the middle of a message (a suite run waited 36 s for it)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may handle signals
        return

    def leave(signum: int, frame: object) -> None:
        console.print(
            "[yellow]interrupted[/]: committed batches stay; run the command again to go on "
            "(a file resumes after its last committed line, replays are skipped)"
        )
        sys.stdout.flush()
        os._exit(130)

    previous = signal.signal(signal.SIGINT, leave)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
