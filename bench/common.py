"""Shared bench plumbing: a dedicated service instance, a results table, and the JSON file."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from core.settings import Settings

BENCH_ENV = {
    "PROFILEGRAPH_STATE": str(Path.home() / ".local" / "state" / "profilegraph-bench"),
    "PROFILEGRAPH_NEO4J__BOLT_PORT": "37687",
    "PROFILEGRAPH_NEO4J__HTTP_PORT": "37474",
    "PROFILEGRAPH_REDIS__PORT": "36379",
    "PROFILEGRAPH_KAFKA__PORT": "39092",
}


def bench_services(*, with_kafka: bool = False) -> Settings:
    """Start (or reuse) the bench's own Neo4j and Redis, apart from the demo's and the tests'.

    Imported here, not at the top: the GPU machine runs the engine-only benches without the
    service stack (pydantic-settings is not in its image).
    """
    from profilegraph import services

    os.umask(0o077)  # the run files written under the bench's state are the user's alone
    for key, value in BENCH_ENV.items():
        os.environ.setdefault(key, value)
    settings = services.settings_with_secrets()
    services.up(settings, with_kafka=with_kafka)
    return settings


BULK_FROM_USERS = 5_000  # below this many users a shop loads faster through the online ingest


def load_shop(settings: Settings, data: Any) -> None:
    """Replace the bench's database with a synthetic shop (``graph.datasets.synthetic``): by
    bulk import (which stops and restarts Neo4j: ~25 s fixed, then millions of events a
    minute) or, under :data:`BULK_FROM_USERS` users, through the online ingest into the
    emptied database (a tiny run takes seconds instead of a restart)."""
    from graph.client import GraphClient
    from graph.datasets.synthetic import synthetic_events
    from graph.source import ingest_events
    from profilegraph.bulk_import import bulk_import

    if len(data.community) >= BULK_FROM_USERS:
        bulk_import(settings, data)
        return
    with GraphClient(settings.neo4j) as client:
        while client.write_rows("empty_database", limit=20_000):
            pass
        ingest_events(client, synthetic_events(data), source="synthetic")


def report(name: str, rows: list[dict[str, Any]], out: Path, metrics: list[str]) -> None:
    """Print one column per run (metrics down the side, so wide figures stay readable)."""
    table = Table(title=name)
    table.add_column("metric")
    for row in rows:
        table.add_column(f"{row.get('users', '')}", justify="right")
    for metric in metrics:
        table.add_row(metric, *(_fmt(row.get(metric)) for row in rows))
    Console().print(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.node(), "cpus": os.cpu_count(), "when": time.strftime("%FT%T")}
    out.write_text(json.dumps({"bench": name, "meta": meta, "rows": rows}, indent=2))
    Console().print(f"written {out}")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
    return "-" if value is None else f"{value:,}" if isinstance(value, int) else str(value)
