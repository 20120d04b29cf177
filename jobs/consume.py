"""Ingest from any source with the deployment's hooks: the CLI's commands, the tasks and the
benches all come through here.

``consume`` applies a :class:`graph.source.Source` (a file, an iterable, a Redis stream, a
Kafka topic) with the online profile path the settings ask for (``jobs.online``) and, after a
batch that deleted users, their erasure from everything outside Neo4j (``jobs.erasure``).
"""

from __future__ import annotations

from collections.abc import Callable

from core.settings import Settings
from graph.client import GraphClient
from graph.ingest import IngestReport
from graph.source import Source, apply_source
from jobs.erasure import erase_copies
from jobs.online import online_update


def consume(
    settings: Settings,
    graph: GraphClient,
    source: Source,
    *,
    on_batch: Callable[[IngestReport], None] | None = None,
    max_batches: int | None = None,
    stop: Callable[[], bool] | None = None,
) -> IngestReport:
    """Apply ``source`` until it ends (see :func:`graph.source.apply_source`)."""
    return apply_source(
        graph,
        source,
        online=online_update(settings, graph),
        on_batch=on_batch,
        on_erased=lambda ids: erase_copies(settings, ids),
        max_batches=max_batches,
        stop=stop,
    )
