"""Read raw events from files, lazily, one line (or CSV row) at a time.

JSONL: one JSON object per line, passed on as text so that validation sees exactly what the
file held (and a malformed line is dead-lettered with its text). CSV: a header row naming the
event fields; empty cells are omitted, and ``categories`` holds ``|``-separated names.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from graph.events import MAX_LINE_BYTES


def read_events(path: Path) -> Iterator[Any]:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        yield from _jsonl(path)
    elif suffix == ".csv":
        yield from _csv(path)
    else:
        raise ValueError(f"{path}: unsupported file type {suffix!r} (expected .jsonl or .csv)")


def _jsonl(path: Path) -> Iterator[str]:
    with path.open("rb") as handle:
        for raw in handle:
            line = raw.strip()
            if line:
                # Oversized lines stay bytes of full length, so validation reports their size.
                yield line if len(line) > MAX_LINE_BYTES else line.decode("utf-8", "replace")


def _csv(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            event: dict[str, Any] = {k: v for k, v in row.items() if k and v not in (None, "")}
            if "categories" in event:
                event["categories"] = [c for c in event["categories"].split("|") if c]
            yield event
