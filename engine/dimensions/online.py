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

from dataclasses import dataclass, replace
from typing import Any

import torch

from core.profile_contract import FIELDS_BY_NAME
from engine.dimensions.adoptions import DAY_MS
from engine.dimensions.customer_profile import CustomerConfig, value_fields
from engine.dimensions.repeat_purchases import occasions
from engine.dimensions.value import compute_value

ONLINE_FIELDS = (
    "recency_days",
    "frequency",
    "monetary",
    "total_spend",
    "rfm_score",
    "rfm_segment",
    "probability_active",
    "expected_purchases",
    "clv",
    "lifecycle_stage",
    "value_explanation",
    "last_active",
)


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
    """The customer's :data:`ONLINE_FIELDS`, as the contract stores them (None: not applicable)."""
    if not model.supported:
        raise ValueError(f"run {model.run_id}: value does not move online (basis not orders)")
    if not history.order_ts:
        raise ValueError("a customer without orders has no value fields to move")
    ts = torch.tensor(history.order_ts, dtype=torch.long)
    amount = torch.tensor(
        [max(a, 0.0) if a is not None else 0.0 for a in history.order_amounts],
        dtype=torch.float64,
    )
    latest = [int(ts.max()), int(model.fit.get("as_of_ms", -1))]
    if history.last_action_ms is not None:
        latest.append(history.last_action_ms)
    now = max(latest)
    o = occasions(torch.zeros_like(ts), ts, amount)
    value = compute_value(o, 1, now // DAY_MS, model.config.value_config(), model.fit["value"])
    if not model.fit.get("forecasts", {}).get("supported", True):
        nan = torch.full((1,), float("nan"), dtype=torch.float64)
        value = replace(value, expected_purchases=nan, clv=nan.clone())
    churn = history.churn_probability
    churn_t = torch.tensor([float("nan") if churn is None else churn], dtype=torch.float64)
    money = bool(model.fit.get("money", bool((amount > 0).any())))
    columns = value_fields(value, "orders", money, churn_t, model.config)
    out = {name: FIELDS_BY_NAME[name].to_value(column[0]) for name, column in columns.items()}
    out["last_active"] = max(latest[:1] + latest[2:])
    return out
