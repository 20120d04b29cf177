"""CDNOW purchases (the "buy till you die" benchmark) read in place.

``CDNOW_sample.txt`` (no header: customer id, id within the sample, date ``YYYYMMDD``, number of
CDs, dollar value) and ``CDNOW_master.txt`` (a header line; customer id, date, CDs, dollars) from
``../shared/datasets/cdnow/`` (see its README). Rows are returned as they are - the duplicates
and zero values of the original included; merging same-day purchases is the models' business
(:mod:`engine.dimensions.repeat_purchases`). Every row is checked: a malformed line raises naming
the file,
line and field.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

MASTER = "CDNOW_master.txt"  # the whole file, beside the sample (graph.datasets.DATASETS)
START = datetime(1997, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Purchases:
    customer_ids: list[str]  # index -> the file's customer id
    user: Tensor  # [P] customer index
    ts_ms: Tensor  # [P] midnight UTC of the purchase date
    quantity: Tensor  # [P] CDs
    amount: Tensor  # [P] dollars (float64)


def _day_ms(text: str, where: str) -> int:
    try:
        day = datetime.strptime(text, "%Y%m%d").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"{where}: date {text!r} is not YYYYMMDD") from None
    return int(day.timestamp() * 1000)


def read_purchases(path: Path) -> Purchases:
    """Either file (the sample has five columns, the master four and a header)."""
    ids: dict[str, int] = {}
    user: list[int] = []
    ts: list[int] = []
    qty: list[int] = []
    amount: list[float] = []
    with path.open(encoding="ascii") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields or fields[0] == "customer_id":
                continue
            where = f"{path.name} line {number}"
            if len(fields) == 5:
                fields = [fields[0], *fields[2:]]
            if len(fields) != 4:
                raise ValueError(f"{where}: expected 4 or 5 columns, got {len(fields)}")
            customer, date, cds, dollars = fields
            try:
                quantity, value = int(cds), float(dollars)
            except ValueError:
                message = f"{where}: CDs {cds!r} / dollars {dollars!r} are not numbers"
                raise ValueError(message) from None
            if quantity < 0 or not value >= 0 or value == float("inf"):
                raise ValueError(f"{where}: CDs {quantity} / dollars {value} out of range")
            user.append(ids.setdefault(customer, len(ids)))
            ts.append(_day_ms(date, where))
            qty.append(quantity)
            amount.append(value)
    return Purchases(
        list(ids),
        torch.tensor(user, dtype=torch.long),
        torch.tensor(ts, dtype=torch.long),
        torch.tensor(qty, dtype=torch.long),
        torch.tensor(amount, dtype=torch.float64),
    )


def cdnow_events(path: Path) -> Iterator[dict[str, Any]]:
    """The purchases as events: customer ``c<id>`` buys the one item ``cdnow:cd`` (the data has
    no items) for the row's dollars, quantity = CDs; a customer's purchases of one day form one
    order (``cdnow:<id>:<date>``). Rows are kept as they are (duplicates included: each row is
    its own order line, keyed by its line number)."""
    purchases = read_purchases(path)
    ids = purchases.customer_ids
    for line, (user, ts, quantity, amount) in enumerate(
        zip(
            purchases.user.tolist(),
            purchases.ts_ms.tolist(),
            purchases.quantity.tolist(),
            purchases.amount.tolist(),
            strict=True,
        ),
        start=1,
    ):
        day = datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y%m%d")
        yield {
            "type": "interaction",
            "event_id": f"cdnow:{path.stem}:{line}",
            "user_id": f"c{ids[user]}",
            "item_id": "cdnow:cd",
            "kind": "purchase",
            "ts": ts,
            "amount": amount,
            "currency": "USD",
            "quantity": max(quantity, 1),
            "order_id": f"cdnow:{ids[user]}:{day}",
        }


def count_events(path: Path) -> int:
    """The number of purchases (rows) in ``path``."""
    with path.open(encoding="ascii") as rows:
        return sum(1 for _ in rows)
