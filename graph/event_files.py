"""Read raw events from files, lazily, one line (or CSV row) at a time, each with its line.

A bad line or row never stops a file: it becomes a dead letter with its line number, and the
rest of the file lands.

JSONL: one JSON object per line, passed on as bytes so that validation sees exactly what the
file held (text that is not UTF-8 is rejected, never repaired). CSV: a header row naming the
event fields; empty cells are omitted, and ``categories`` holds ``|``-separated names. A
UTF-8 byte-order mark is ignored in both. A CSV row that is not UTF-8, has more cells than the
header, or holds a field over the size limit is rejected; an unterminated quote is rejected at
the row where it opened, and reading resumes on the next line (the rows the quote swallowed are
read again, not lost).
"""

from __future__ import annotations

import csv
import hashlib
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from graph.events import MAX_LINE_BYTES, Located

BOM = b"\xef\xbb\xbf"


def position_name(path: Path) -> str:
    """The name a file's committed position is kept under: its resolved path and its first
    line, so a re-run of the same file (or of it with lines appended) resumes where the last
    one committed, and a different file that reuses the name starts from its beginning."""
    with path.open("rb") as handle:
        first = handle.readline(64 * 1024)
    digest = hashlib.sha256(str(path.resolve()).encode() + b"\0" + first).hexdigest()
    return f"file:{path.name[:80]}:{digest[:16]}"


def read_events(path: Path) -> Iterator[Located]:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        yield from _jsonl(path)
    elif suffix == ".csv":
        yield from _csv(path)
    else:
        raise ValueError(f"{path}: unsupported file type {suffix!r} (expected .jsonl or .csv)")


def _jsonl(path: Path) -> Iterator[Located]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.removeprefix(BOM) if number == 1 else raw
            line = line.strip()
            if line:
                yield Located(line, number)


def _csv(path: Path) -> Iterator[Located]:
    """Rows as :class:`Located` (lax: cells are text); a row that cannot be read, as a problem.
    Streams the file; only the lines of a row that failed are held, to be read again."""
    with path.open("rb") as handle:
        lines = _Lines(handle)
        header: list[str] | None = None
        while True:
            reader = csv.reader(lines, strict=True)
            while True:
                lines.mark()
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as error:
                    number = lines.row_start
                    yield Located(f"line {number}", number, problem=f"unreadable row: {error}")
                    lines.replay_after_row_start()
                    break  # a fresh reader resumes on the line after the failed row's start
                if header is None:
                    header = [name.strip() for name in cells]
                elif any(cell.strip() for cell in cells):
                    yield _row(header, cells, lines.row_start)


class _Lines:
    """The file's lines as text for the csv reader (bytes that are not UTF-8 become lone
    surrogates, found per row), numbered, with the lines of the current row kept so that a row
    that fails can give back every line after its first."""

    def __init__(self, handle: Any) -> None:
        self.source = handle
        self.pending: deque[bytes] = deque()
        self.taken: list[bytes] = []
        self.number = 0  # lines handed out so far
        self.row_start = 1

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = self.pending.popleft() if self.pending else next(self.source)
        if self.number == 0:
            raw = raw.removeprefix(BOM)
        self.number += 1
        self.taken.append(raw)
        return raw.decode("utf-8", "surrogateescape")

    def mark(self) -> None:
        self.taken = []
        self.row_start = self.number + 1

    def replay_after_row_start(self) -> None:
        self.pending.extendleft(reversed(self.taken[1:]))
        self.number = self.row_start
        self.taken = []


def _row(header: list[str], cells: list[str], number: int) -> Located:
    raw = ",".join(cells)
    if len(cells) > len(header):
        return Located(raw, number, problem=f"row has {len(cells)} cells, the header {len(header)}")
    if any(len(cell) > MAX_LINE_BYTES for cell in cells):
        return Located(raw, number, problem=f"a cell is larger than {MAX_LINE_BYTES} bytes")
    if any("\udc80" <= c <= "\udcff" for cell in cells for c in cell):
        return Located(raw.encode("utf-8", "surrogateescape"), number, problem="not valid UTF-8")
    event: dict[str, Any] = {k: v for k, v in zip(header, cells, strict=False) if k and v != ""}
    if "categories" in event:
        event["categories"] = [c for c in event["categories"].split("|") if c]
    return Located(event, number, lax=True)
