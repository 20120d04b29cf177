"""How far each source's consumers are behind, and how fast they apply (``profilegraph lag``).

Each source says what it holds and what of it was applied (:meth:`graph.source.Source.backlog`):
Kafka per partition (the topic's end offset against the position Neo4j committed: Neo4j, not
Kafka's group offsets, is where consumers resume), a Redis stream per consumer group (entries
not yet delivered, and those delivered but not yet acknowledged). The rate is measured over
``sample_s``: events committed per second (Kafka: the positions' event counts; Redis: the
group's entries read).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from graph.client import GraphClient
from graph.source import Backlog, Source


@dataclass
class LagRow:
    source: str
    partition: str
    end: int  # the source's end (Kafka: high watermark; Redis: entries added)
    applied: int  # what the consumers committed (Kafka: position + 1; Redis: entries read)
    lag: int
    pending: int  # Redis: delivered, not acknowledged; Kafka: 0
    rate: float  # events/s over the sample

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure(graph: GraphClient, sources: list[Source], *, sample_s: float = 2.0) -> list[LagRow]:
    def sample() -> dict[tuple[str, str], Backlog]:
        return {(b.source, b.partition): b for s in sources for b in s.backlog(graph)}

    before = sample()
    started = time.monotonic()
    time.sleep(sample_s)
    after = sample()
    elapsed = time.monotonic() - started
    rows = []
    for key, b in after.items():
        counted = before[key].counter if key in before else b.counter
        rate = (b.counter - counted) / elapsed
        rows.append(LagRow(b.source, b.partition, b.end, b.applied, b.lag, b.pending, rate))
    return rows
