"""An ingest with a live progress bar (elapsed time, an estimate when the total is known) and a
summary of what was applied, skipped and rejected: the CLI's ingest commands and the demo."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

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
from graph.ingest import ingest_events
from jobs.erasure import erase_copies
from jobs.online import online_update

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


def ingest_with_progress(
    settings: Settings,
    events: Iterable[Any],
    *,
    source: str,
    total: int | None,
    position: str | None = None,
) -> None:
    client = GraphClient(settings.neo4j)
    try:
        with progress_bar() as progress:
            task = progress.add_task(f"ingest {source}", total=total)
            report = ingest_events(
                client,
                events,
                source=source,
                on_batch=lambda r: progress.advance(task, r.received),
                currency=settings.value.currency,
                position=position,
                online=online_update(settings, client),
            )
    except KeyboardInterrupt:
        _interrupted()
    client.close()
    if report.erased:  # user_delete events: their copies outside Neo4j go too
        erase_copies(settings, report.erased)
    console.print(
        f"received {report.received:,}, applied {report.applied:,}, "
        f"replays skipped {report.duplicates:,}, rejected {report.rejected:,} "
        f"(change epoch {report.epoch})"
    )
    for reason, n in report.rejected_by_reason.most_common(10):
        console.print(f"  [yellow]rejected[/] {n:,} x {reason}", highlight=False)


def _interrupted() -> None:
    """Ctrl-C: leave at once. Committed batches are committed; the one in flight rolls back on
    the server when the connection goes. A graceful close of the driver could wait on that
    connection (a suite run saw 36 s), so the process exits without it, non-zero."""
    console.print(
        "[yellow]interrupted[/]: committed batches stay; run the command again to go on "
        "(a file resumes after its last committed line, replays are skipped)"
    )
    sys.stdout.flush()
    os._exit(130)
