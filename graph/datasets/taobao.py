"""Taobao UserBehavior (a sample of 814 complete user histories) as profilegraph events.

Read in place from ``../shared/datasets/taobao-userbehavior-sample/UserBehavior.csv`` (no
header: ``user_id,item_id,category_id,behavior,timestamp``; Unix seconds; see its README).
Mapping: ``pv`` -> view, ``fav`` -> favourite, ``cart`` -> cart, ``buy`` -> purchase (no
amount: the data has no prices); each item's category id becomes its category
(``taobao:<id>``, an item upsert before the item's first action). Users are ``t<id>``, items
``ti<id>``. A row that does not parse is passed on as it is, so the ingest dead-letters it with
its line.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from graph.events import Located

KINDS = {"pv": "view", "fav": "favourite", "cart": "cart", "buy": "purchase"}


def taobao_events(path: Path) -> Iterator[Any]:
    seen_items: set[str] = set()
    with path.open(encoding="utf-8", newline="") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if len(row) != 5 or row[3] not in KINDS or not row[4].isdigit():
                yield Located(",".join(row).encode(), line, problem=f"not a Taobao row: {row!r}")
                continue
            user, item, category, behaviour, seconds = row
            if item not in seen_items:
                seen_items.add(item)
                yield {
                    "type": "item_upsert",
                    "event_id": f"taobao:item:{item}",
                    "item_id": f"ti{item}",
                    "categories": [f"taobao:{category}"],
                }
            yield {
                "type": "interaction",
                "event_id": f"taobao:{line}",
                "user_id": f"t{user}",
                "item_id": f"ti{item}",
                "kind": KINDS[behaviour],
                "ts": int(seconds) * 1000,
            }


def count_events(path: Path) -> int:
    """How many events :func:`taobao_events` yields (rows plus one upsert per item)."""
    rows, items = 0, set()
    with path.open("rb") as handle:
        for row in handle:
            rows += 1
            items.add(row.split(b",", 2)[1] if row.count(b",") >= 2 else b"")
    return rows + len(items)
