"""Files as inputs: strict types, no control characters, bad bytes and bad rows rejected with
their line number, and every valid row after them still read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph.event_files import read_events
from graph.events import Rejection
from graph.ingest import validate_batch
from graph.queries import Query
from graph.source import ingest_events

ROW = "interaction,{id},u1,i1,view,{weight}\n"
HEADER = "type,event_id,user_id,item_id,kind,weight\n"


def _read(path: Path) -> tuple[list[str], dict[int, Rejection]]:
    valid, rejected = validate_batch(list(read_events(path)), "test")
    by_line = {r.line: r for r in rejected if r.line is not None}
    assert len(by_line) == len(rejected), "every rejection from a file names its line"
    return [e.event_id for e in valid], by_line


def test_csv_bad_rows_are_dead_letters_and_the_rest_lands(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(
        b"\xef\xbb\xbf"  # a byte-order mark: ignored
        + HEADER.encode()
        + ROW.format(id="e1", weight="2.5").encode()
        + b"interaction,e2,u\xff1,i1,view,1\n"  # not UTF-8
        + b"interaction,e3,u1,i1,view,1,EXTRA\n"  # more cells than the header
        + b'interaction,"e4,u1,i1,view,1\n'  # a quote that never closes
        + ROW.format(id="e5", weight="1").encode()  # swallowed by that quote before
        + b"interaction,e6,u1,i1,view,"
        + b"9" * 200_000
        + b"\n"  # a field over the limit
        + b"\n"
        + ROW.format(id="e7", weight="3").encode()
    )
    valid, rejected = _read(path)
    assert valid == ["e1", "e5", "e7"]
    assert rejected[3].reason == "not valid UTF-8"
    assert "7 cells, the header 6" in rejected[4].reason
    assert "unreadable row" in rejected[5].reason
    assert 7 in rejected  # the oversized field


def test_jsonl_types_are_strict_and_text_is_clean(tmp_path: Path) -> None:
    base = '{"type":"interaction","event_id":"%s","user_id":"u1","item_id":"i1","kind":"view"%s}'
    lines = [
        base % ("j1", ""),
        base % ("j2", ',"weight":"2.5"'),  # text where a number belongs
        base % ("j3", ',"weight":true'),  # a boolean where a number belongs
        base % ("j4", ',"count":2.0'),  # a float where an integer belongs
        base % ("j5", ',"ts":1709294400000'),  # epoch milliseconds: accepted
        '{"type":"user_upsert","event_id":"j6","user_id":"u9","name":"a\\u0000b"}',  # NUL
        '{"type":"user_upsert","event_id":"j7","user_id":"u9","name":"a\\u202eb"}',  # bidi
        '{"type":"user_upsert","event_id":"j8","user_id":"u9","name":"esc\\u001b[2J"}',
        "42",
        "null",
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe not utf-8\n")
    valid, rejected = _read(path)
    assert valid == ["j1", "j5"]
    assert {n: rejected[n].field for n in (2, 3, 4)} == {2: "weight", 3: "weight", 4: "count"}
    for n in (6, 7, 8):
        assert "control or direction-override" in rejected[n].reason, n
    assert rejected[9].reason == rejected[10].reason == "Input should be an object"
    assert rejected[11].reason == "not valid UTF-8"


DEAD = Query(
    name="test_dead_lines",
    mode="read",
    text="MATCH (r:RejectedEvent) RETURN r.line AS line, r.times AS times ORDER BY line",
)


def test_dead_letters_keep_their_line_and_stay_apart_past_the_clip(
    clean_graph: object, tmp_path: Path
) -> None:
    """Two bad inputs that share their first 2,000 characters are two dead letters."""
    from graph.client import GraphClient

    graph = clean_graph
    assert isinstance(graph, GraphClient)
    shared = "x" * 2_500
    lines = [
        json.dumps({"type": "user_upsert", "event_id": f"d{n}", "user_id": "u1", "name": name})
        for n, name in ((1, shared + "A"), (2, shared + "B"))
    ]
    path = tmp_path / "long.jsonl"
    path.write_text("\n".join(lines) + "\n")
    report = ingest_events(graph, read_events(path), source="long")
    assert report.rejected == 2
    assert graph.read(DEAD) == [{"line": 1, "times": 1}, {"line": 2, "times": 1}]


@pytest.mark.parametrize("suffix", [".txt", ".parquet"])
def test_unknown_file_types_are_refused(tmp_path: Path, suffix: str) -> None:
    with pytest.raises(ValueError, match="unsupported file type"):
        list(read_events(tmp_path / f"x{suffix}"))
