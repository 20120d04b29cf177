"""The one ingest loop (graph.source.apply_source) against real Neo4j, with a source made here:
it acknowledges exactly what committed, splits a conflicting delivery the way the source says,
erases after a delete, and stops when told. Every source the project ships goes through it
(tests/graph/test_stream.py, test_kafka.py, test_ingest.py run them)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.client import GraphClient
from graph.ingest import (
    IngestReport,
    PositionConflict,
    SourceRange,
    SourceRanges,
    committed_position,
    validate_batch,
)
from graph.source import Backlog, Delivery, EventsSource, apply_source
from tests.graph.conftest import counts
from tests.graph.test_ingest import view

ROOT = Path(__file__).resolve().parents[2]


def _delivery(events: list[dict[str, Any]], guard: Any, handle: Any = None) -> Delivery:
    valid, rejected = validate_batch(events, "test")
    return Delivery(valid, rejected, guard, handle)


@dataclass
class ListSource:
    """Deliveries from a list, ``None`` (an empty poll) between them; records every call."""

    planned: list[Delivery]
    name: str = "test:list"
    acknowledged: list[tuple[Any, int, int]] = field(default_factory=list)
    erased: list[set[str]] = field(default_factory=list)
    graph: GraphClient | None = None

    def deliveries(self, graph: GraphClient) -> Iterator[Delivery | None]:
        self.graph = graph
        for delivery in self.planned:
            yield None
            yield delivery

    def committed(self, delivery: Delivery, report: IngestReport) -> None:
        assert self.graph is not None
        views = int(counts(self.graph)["views"])  # what Neo4j holds when told
        self.acknowledged.append((delivery.handle, report.applied, views))

    def conflict(self, delivery: Delivery, error: PositionConflict) -> list[Delivery]:
        parts: dict[int, Delivery] = delivery.handle
        return [d for p, d in parts.items() if p != 0]  # partition 0 is the one committed

    def backlog(self, graph: GraphClient) -> list[Backlog]:
        return []

    def erase(self, user_ids: set[str]) -> int:
        self.erased.append(user_ids)
        return 0


def test_each_delivery_is_acknowledged_after_its_commit(clean_graph: GraphClient) -> None:
    source = ListSource(
        [
            _delivery([view(1), view(2)], SourceRange("test:list", 0, 1, 2), "first"),
            _delivery([view(3), "{not json"], SourceRange("test:list", 0, 3, 4), "second"),
        ]
    )
    seen: list[int] = []
    report = apply_source(clean_graph, source, on_batch=lambda r: seen.append(r.applied))
    # told after each commit: Neo4j held the batch's events already
    assert source.acknowledged == [("first", 2, 2), ("second", 1, 3)]
    assert seen == [2, 1] and (report.applied, report.rejected) == (3, 1)
    assert committed_position(clean_graph, "test:list") == 4


def test_a_conflicting_poll_is_applied_as_the_source_splits_it(clean_graph: GraphClient) -> None:
    """A poll over two partitions, one of them committed by another consumer meanwhile: the
    loop applies and acknowledges what the source gives instead (partition 1 alone), not the
    poll it first tried."""
    p0, p1 = SourceRange("test:list", 0, 1, 2), SourceRange("test:list", 1, 1, 2)
    apply_source(clean_graph, ListSource([_delivery([view(1), view(2)], p0, "p0 alone")]))
    parts = {
        0: _delivery([view(1), view(2)], p0, "p0"),
        1: _delivery([view(3, user="u2"), view(4, user="u2")], p1, "p1"),
    }
    poll = Delivery(
        [e for d in parts.values() for e in d.events], [], SourceRanges((p0, p1)), parts
    )
    source = ListSource([poll])
    report = apply_source(clean_graph, source)
    assert source.acknowledged == [("p1", 2, 4)]
    assert report.applied == 2
    assert committed_position(clean_graph, "test:list", 1) == 2


def test_a_delete_erases_the_source_copies_then_the_rest(clean_graph: GraphClient) -> None:
    delete = {"type": "user_delete", "event_id": "gone-1", "user_id": "u9"}
    source = ListSource(
        [
            _delivery([view(1, user="u9")], SourceRange("test:list", 0, 1, 1), "a"),
            _delivery([delete], SourceRange("test:list", 0, 2, 2), "b"),
        ]
    )
    hooked: list[list[str]] = []
    apply_source(clean_graph, source, on_erased=hooked.append)
    assert source.erased == [{"u9"}] and hooked == [["u9"]]


def test_it_stops_when_told_and_after_max_batches(clean_graph: GraphClient) -> None:
    def three(name: str) -> ListSource:
        # event ids differ between the two sources: the ledger would drop a repeated one
        return ListSource(
            [
                _delivery([view(n, event_id=f"{name}-{n}")], SourceRange(name, 0, n, n), n)
                for n in (1, 2, 3)
            ]
        )

    assert apply_source(clean_graph, three("test:max"), max_batches=2).applied == 2
    polls = iter(range(100))
    # stop is asked after each empty poll and each delivery: polls 0 (empty), 1 (the first
    # batch), 2 (empty: stop)
    stopped = apply_source(clean_graph, three("test:stop"), stop=lambda: next(polls) >= 2)
    assert stopped.applied == 1


def test_a_file_reports_its_backlog_by_line(clean_graph: GraphClient, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [view(n) for n in range(1, 8)]
    path.write_text("".join(f"{__import__('json').dumps(e)}\n" for e in lines))
    file = EventsSource.file(path)
    assert [(b.end, b.applied, b.lag) for b in file.backlog(clean_graph)] == [(7, 0, 7)]
    file.batch_size = 3
    apply_source(clean_graph, file, max_batches=1)
    assert [(b.end, b.applied, b.lag) for b in EventsSource.file(path).backlog(clean_graph)] == [
        (7, 3, 4)
    ]


def test_only_the_one_loop_applies_batches() -> None:
    """apply_batch (one transaction) is called by graph.source alone among the project's
    modules (the cost bench times its steps): a new way in cannot skip the online path, the
    erasure hook or the acknowledgement."""
    callers = []
    for folder in ("core", "graph", "engine", "jobs", "workers", "profilegraph"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            calls = [
                node
                for node in ast.walk(tree)
                if isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", "")) == "apply_batch"
            ]
            if calls:
                callers.append(str(path.relative_to(ROOT)))
    assert callers == ["graph/source.py"]
