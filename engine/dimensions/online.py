"""The online path: a customer's value fields recomputed the moment an order lands.

A refresh computes value, RFM and lifecycle stage for everyone (:mod:`engine.dimensions.value`);
between refreshes an order changes one customer's figures only, and the run's models do not
change at all. :func:`online_value` recomputes that customer's fields with the last full run's
fitted models and boundaries (its ``customer_fit``: the count model's and Gamma-Gamma's
parameters, the RFM quintile boundaries, the median gap, the forecast-support decision), through
the very function a refresh uses (:func:`engine.dimensions.customer_profile.value_fields`), so
the online figures equal what an incremental refresh of the same graph writes.

"Now" is the refresh's: the later of the run's as-of time and the customer's latest order or
action (an incremental refresh of this customer takes the latest event of their
neighbourhood; the two agree unless a neighbour acted later, which moves every neighbour's
recency and is left to the next refresh).

What it reads is the customer's own orders (a handful of rows: distinct order days decide the
repeat count, and an order arriving late, before the customer's last one, changes it); what
stays with the refresh: churn probability (its features read the followees and the
population), interests, influence, embedding, segment. The stored churn probability is read
back only to word the stage note as the refresh does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from core.profile_contract import FIELDS_BY_NAME, ONLINE_FIELDS
from engine.dimensions.adoptions import DAY_MS
from engine.dimensions.customer_profile import CustomerConfig, value_fields
from engine.dimensions.repeat_purchases import occasions
from engine.dimensions.value import compute_value


@dataclass(frozen=True)
class OnlineModel:
    """What the online path takes from the last full run (nothing is fitted online)."""

    run_id: str
    fit: dict[str, Any]  # the run's CustomerColumns.fit
    config: CustomerConfig

    @property
    def supported(self) -> bool:
        """Value moves online where the run valued customers by their orders."""
        return self.fit.get("basis") == "orders" and bool(self.fit.get("value"))


@dataclass(frozen=True)
class CustomerHistory:
    """One customer's orders (time in ms, amount; ``None`` unknown) and latest action time."""

    order_ts: list[int]
    order_amounts: list[float | None]
    last_action_ms: int | None = None
    churn_probability: float | None = None  # the stored one (the refresh's)


def online_value(model: OnlineModel, history: CustomerHistory) -> dict[str, Any]:
    """One customer's online fields (see :func:`online_values`)."""
    return online_values(model, [history])[0]


def online_values(model: OnlineModel, histories: Sequence[CustomerHistory]) -> list[dict[str, Any]]:
    """Each customer's online fields (``core.profile_contract.ONLINE_FIELDS``), as the contract
    stores them (None: not applicable). Customers are valued together, one model evaluation per
    distinct "now" day among them (an ingest batch holds hundreds; all of today's share one),
    and each is valued as if alone: who else is in the batch changes nothing."""
    if not model.supported:
        raise ValueError(f"run {model.run_id}: value does not move online (basis not orders)")
    if any(not h.order_ts for h in histories):
        raise ValueError("a customer without orders has no value fields to move")
    as_of = int(model.fit.get("as_of_ms", -1))
    latest = [max(max(h.order_ts), h.last_action_ms or -1) for h in histories]
    days: dict[int, list[int]] = {}
    for i, last in enumerate(latest):
        days.setdefault(max(last, as_of) // DAY_MS, []).append(i)
    out: list[dict[str, Any]] = [{} for _ in histories]
    for day, members in days.items():
        group = [histories[i] for i in members]
        columns = _value_columns(model, group, day)
        for j, i in enumerate(members):
            row = {name: FIELDS_BY_NAME[name].to_value(col[j]) for name, col in columns.items()}
            row["last_active"] = latest[i]
            if set(row) != set(ONLINE_FIELDS):
                raise RuntimeError(f"online fields {sorted(row)} are not the contract's")
            out[i] = row
    return out


def _value_columns(model: OnlineModel, group: list[CustomerHistory], day: int) -> dict[str, Any]:
    user = torch.cat(
        [torch.full((len(h.order_ts),), j, dtype=torch.long) for j, h in enumerate(group)]
    )
    ts = torch.tensor([t for h in group for t in h.order_ts], dtype=torch.long)
    amount = torch.tensor(
        [max(a, 0.0) if a is not None else 0.0 for h in group for a in h.order_amounts],
        dtype=torch.float64,
    )
    n = len(group)
    o = occasions(user, ts, amount)
    value = compute_value(o, n, day, model.config.value_config(), model.fit["value"])
    if not model.fit.get("forecasts", {}).get("supported", True):
        nan = torch.full((n,), float("nan"), dtype=torch.float64)
        value = replace(value, expected_purchases=nan, clv=nan.clone())
    churn = torch.tensor(
        [float("nan") if h.churn_probability is None else h.churn_probability for h in group],
        dtype=torch.float64,
    )
    money = bool(model.fit.get("money", True))
    return value_fields(value, "orders", money, churn, model.config)
