"""The online path: a customer's value fields recomputed the moment they order or act.

A refresh computes value, RFM and lifecycle stage for everyone (:mod:`engine.dimensions.value`);
between refreshes an order or an action changes one customer's figures only (an action moves
their "now": the days since their last order, P(active), the stage), and the run's models do
not change at all. :func:`online_value` recomputes that customer's fields with the last full run's
fitted models and boundaries (its ``customer_fit``: the count model's and Gamma-Gamma's
parameters, the RFM quintile boundaries, the median gap, the forecast-support decision), through
the very function a refresh uses (:func:`engine.dimensions.customer_profile.value_fields`), so
the online figures equal what an incremental refresh of the same graph writes.

"Now" is the refresh's: the later of the run's as-of time and the customer's latest order or
action (an incremental refresh of this customer takes the latest event of their
neighbourhood; the two agree unless a neighbour acted later, which moves every neighbour's
recency and is left to the next refresh).

What it reads is the customer's own orders (a handful of rows: distinct order days decide the
repeat count, and an order arriving late, before the customer's last one, changes it).

The churn probability moves too where the run's churn model reads the customer's own behaviour
alone (:data:`engine.dimensions.churn.BEHAVIOUR`: recency, active days, tenure, the usual gap,
BG/NBD's P(active) and expectations on the run's parameters): :func:`online_values` evaluates
the run's model on those features computed by the refresh's own function
(:func:`engine.dimensions.churn.churn_features`) from the customer's action times (the times an
export keeps: each edge's first and latest, the latest log entries), and words it with the
followees' activity as the refresh does. Where the run chose the graph columns (the followees'
and their followees' behaviour, recomputed by the refresh) the stored probability stays and
only words the stage note. What stays with the refresh: interests, influence, embedding,
segment, next behaviour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from core.profile_contract import FIELDS_BY_NAME, ONLINE_FIELDS
from engine.dimensions.adoptions import DAY_MS, Actions
from engine.dimensions.churn import BEHAVIOUR, SOCIAL, ChurnModel, churn_features
from engine.dimensions.customer_profile import CustomerConfig, churn_sentences, value_fields
from engine.dimensions.online_next import NEXT_FIELDS
from engine.dimensions.repeat_purchases import occasions
from engine.dimensions.value import compute_value
from engine.graph_as_of import GraphAsOf

CHURN_FIELDS = ("churn_probability", "churn_explanation")
# what online_values sets: the online fields but churn's and next behaviour's
# (engine.dimensions.online_next)
VALUE_FIELDS = tuple(n for n in ONLINE_FIELDS if n not in CHURN_FIELDS and n not in NEXT_FIELDS)


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

    @property
    def churn_moves(self) -> bool:
        """Churn moves online where the run learnt a churn model that reads the customer's own
        behaviour alone, on BG/NBD parameters it kept (its graph columns read the followees'
        and their followees' behaviour: those the refresh recomputes)."""
        churn = self.fit.get("churn") or {}
        weights = churn.get("weights")
        return (
            bool(weights)
            and churn.get("bgnbd") is not None
            and max(weights["columns"]) < len(BEHAVIOUR)
        )

    @property
    def horizon_ms(self) -> int:
        return int(self.config.horizon_weeks * 7 * DAY_MS)


@dataclass(frozen=True)
class CustomerHistory:
    """One customer's orders (time in ms, amount; ``None`` unknown) and latest action time."""

    order_ts: list[int]
    order_amounts: list[float | None]
    last_action_ms: int | None = None
    churn_probability: float | None = None  # the stored one (the refresh's)
    # for churn: every action time an export keeps (each edge's first and latest time, the
    # latest log entries; a day's start stands for the day: the features read days, the at-risk
    # flag the latest action, last_action_ms) and each followee's latest action time (None:
    # never acted); None: not read, the stored probability stays
    action_ts: list[int] | None = None
    followee_last_ms: list[int | None] | None = None

    @property
    def churn_known(self) -> bool:
        return self.action_ts is not None and self.followee_last_ms is not None


def online_value(model: OnlineModel, history: CustomerHistory) -> dict[str, Any]:
    """One customer's online fields (see :func:`online_values`)."""
    return online_values(model, [history])[0]


def online_values(model: OnlineModel, histories: Sequence[CustomerHistory]) -> list[dict[str, Any]]:
    """Each customer's value fields (:data:`VALUE_FIELDS`; the churn fields too where
    :attr:`OnlineModel.churn_moves` and the history has the action times), as the
    contract stores them (None: not applicable). Customers are valued together, one model
    evaluation per distinct "now" day among them (an ingest batch holds hundreds; all of
    today's share one), and each is valued as if alone: who else is in the batch changes
    nothing."""
    if not model.supported:
        raise ValueError(f"run {model.run_id}: value does not move online (basis not orders)")
    if any(not h.order_ts and h.last_action_ms is None for h in histories):
        raise ValueError("a customer without orders or actions has no fields to move")
    as_of = int(model.fit.get("as_of_ms", -1))
    latest = [max(max(h.order_ts, default=-1), h.last_action_ms or -1) for h in histories]
    days: dict[int, list[int]] = {}
    for i, last in enumerate(latest):
        days.setdefault(max(last, as_of) // DAY_MS, []).append(i)
    out: list[dict[str, Any]] = [{} for _ in histories]
    for day, members in days.items():
        group = [histories[i] for i in members]
        nows = [max(latest[i], as_of) for i in members]
        moving = [model.churn_moves and h.churn_known for h in group]
        columns = _value_columns(model, group, day, nows, moving)
        for j, i in enumerate(members):
            row = {name: FIELDS_BY_NAME[name].to_value(col[j]) for name, col in columns.items()}
            row["last_active"] = latest[i]
            if not moving[j]:
                for name in CHURN_FIELDS:
                    row.pop(name)
            expected = {*VALUE_FIELDS, *(CHURN_FIELDS if moving[j] else ())}
            if set(row) != expected:
                raise RuntimeError(f"online fields {sorted(row)} are not the contract's")
            out[i] = row
    return out


def _value_columns(
    model: OnlineModel,
    group: list[CustomerHistory],
    day: int,
    nows: list[int],
    moving: list[bool],
) -> dict[str, Any]:
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
    explanations = [""] * n
    if any(moving):
        churn, explanations = _churn(model, group, nows, moving, churn)
    money = bool(model.fit.get("money", True))
    return {
        **value_fields(value, "orders", money, churn, model.config),
        "churn_probability": churn,
        "churn_explanation": explanations,
    }


def _churn(
    model: OnlineModel,
    group: list[CustomerHistory],
    nows: list[int],
    moving: list[bool],
    stored: torch.Tensor,
) -> tuple[torch.Tensor, list[str]]:
    """The churn probability and its sentence of the ``moving`` customers (the others keep
    ``stored``), as the refresh computes them at each one's "now" (the group shares its day).

    The behaviour columns read the day only, so one evaluation serves the group at its latest
    "now"; the at-risk flag (active within the horizon before "now") and the followees'
    activity shares the sentence quotes read each customer's own "now", to the millisecond."""
    fit = model.fit["churn"]
    horizon = model.horizon_ms
    n = len(group)
    times = [h.action_ts or [] for h in group]
    user = torch.tensor([j for j, ts in enumerate(times) for _ in ts], dtype=torch.long)
    ts = torch.tensor([t for ts in times for t in ts], dtype=torch.long)
    empty = torch.empty(0, dtype=torch.long)
    graph = GraphAsOf(Actions(user, torch.zeros_like(user), ts), empty, empty, n)
    features = churn_features(graph, at=max(nows), horizon_ms=horizon, bgnbd=fit["bgnbd"])
    probability = ChurnModel.from_dict(fit["weights"]).predict(features.values)
    # the sentence's columns: behaviour as computed, the followees' shares at each "now"
    names = BEHAVIOUR + SOCIAL
    quoted = torch.zeros(n, len(names), dtype=torch.float64)
    quoted[:, : len(BEHAVIOUR)] = features.values[:, : len(BEHAVIOUR)]
    risk = torch.zeros(n, dtype=torch.bool)
    src: list[int] = []
    for j, (h, now) in enumerate(zip(group, nows, strict=True)):
        risk[j] = moving[j] and any(now - horizon < t <= now for t in times[j])
        followees = h.followee_last_ms or []
        if not (moving[j] and followees):
            continue
        src += [j] * len(followees)
        active = [t is not None and now - horizon < t <= now for t in followees]
        churned = [
            t is not None and not a and now - 2 * horizon < t <= now - horizon
            for t, a in zip(followees, active, strict=True)
        ]
        quoted[j, names.index("followees_active_share")] = sum(active) / len(followees)
        quoted[j, names.index("followees_churned_share")] = sum(churned) / len(followees)
    moved = torch.tensor(moving)
    churn = torch.where(moved, torch.full_like(stored, float("nan")), stored)
    churn[risk] = probability[risk]
    sentences = churn_sentences(
        churn, quoted, risk, torch.tensor(src, dtype=torch.long), n, model.config
    )
    return churn, sentences
