"""The customer dimensions of a profile: value, lifecycle stage and churn, with explanations.

Computed for every user of a snapshot as of its latest event (historic data has no "now"):

- **value and lifecycle** (:mod:`engine.dimensions.value`) from the users' orders (``PLACED``
edges, one per
  purchase occasion with its amount); on data without orders, from their active days (any
  timestamped action), with no money figures;
- **churn probability** (:mod:`engine.dimensions.churn`) over the same horizon for the users active
in the
  last one, from behaviour and the follow graph; null for users already silent that long
  (their lifecycle stage says so).

The explanations are sentences built from the same figures the fields hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from core.vocabulary import FOLLOWS, ORDERS
from engine.dimensions.adoptions import DAY_MS, Actions, Adoptions
from engine.dimensions.behaviour import behaviour, behaviour_sentences
from engine.dimensions.churn import BEHAVIOUR, SOCIAL, ChurnModel, predict_churn
from engine.dimensions.columns import FieldColumns
from engine.dimensions.repeat_purchases import occasions
from engine.dimensions.value import Value, ValueConfig, compute_value
from engine.graph_as_of import GraphAsOf
from engine.snapshot import Snapshot


def weekly_rate(annual: float) -> float:
    """The weekly discount rate that compounds to ``annual`` over 52 weeks."""
    return (1 + annual) ** (1 / 52) - 1


@dataclass(frozen=True)
class CustomerConfig:
    horizon_weeks: float = 13.0
    clv_weeks: float = 52.0
    annual_discount: float = 0.10

    def value_config(self) -> ValueConfig:
        return ValueConfig(
            horizon=self.horizon_weeks,
            clv_horizon=self.clv_weeks,
            discount_per_unit=weekly_rate(self.annual_discount),
        )


@dataclass
class CustomerColumns(FieldColumns):
    """One entry per snapshot user, NaN / "" where a figure does not apply: value, RFM,
    lifecycle stage, churn and habits (the contract's fields by name), and what was fitted."""

    fit: dict[str, Any] = field(default_factory=dict)


def _forecast_support(
    actions: Actions,
    placed: tuple[Tensor, Tensor, Tensor] | None,
    now: int,
    horizon_weeks: float,
) -> dict[str, Any]:
    """Whether the data's span supports forecasts over ``horizon_weeks`` (expected purchases,
    CLV): at least that long a history, else null with the reason."""
    starts = [int(actions.ts.min())] if actions.ts.numel() else []
    if placed is not None:
        starts.append(int(placed[1].min()))
    weeks = (now - min(starts)) / (7 * DAY_MS) if starts else 0.0
    if weeks >= horizon_weeks:
        return {"supported": True, "history_weeks": weeks}
    return {
        "supported": False,
        "history_weeks": weeks,
        "reason": f"{weeks:.1f} weeks of history cannot support a {horizon_weeks:g}-week forecast",
    }


def _orders(snapshot: Snapshot) -> tuple[Tensor, Tensor, Tensor] | None:
    """(user, ts, amount) of the timed orders; None when the snapshot has none. Unknown
    amounts (-1) count as 0 spend."""
    orders = snapshot.edges.get(ORDERS)
    if orders is None:
        return None
    timed = orders.ts >= 0
    if not bool(timed.any()):
        return None
    amount = orders.weight[timed].to(torch.float64).clamp(min=0)
    return orders.src[timed], orders.ts[timed], amount


def customer_columns(
    snapshot: Snapshot,
    actions: Actions,
    adopted: Adoptions | None,
    config: CustomerConfig = CustomerConfig(),
    fitted: dict[str, Any] | None = None,
) -> CustomerColumns:
    """``fitted``: a full run's ``CustomerColumns.fit``; an incremental run (a few users and
    their neighbourhood) reuses its value models, RFM boundaries and churn model instead of
    fitting on the neighbourhood."""
    n = snapshot.num_nodes("user")
    placed = _orders(snapshot)
    latest = [int(actions.ts.max())] if actions.ts.numel() else []
    if placed is not None:
        latest.append(int(placed[1].max()))
    nan = torch.full((n,), float("nan"), dtype=torch.float64)
    shopping = behaviour(snapshot, actions)
    habits: dict[str, Any] = {
        "view_to_cart": shopping.view_to_cart,
        "cart_to_purchase": shopping.cart_to_purchase,
        "purchase_categories": shopping.purchase_categories,
        "active_hours": shopping.active_hours,
        "price_level": shopping.price_level,
        "behaviour_explanation": behaviour_sentences(shopping),
    }
    if not latest:  # no timestamped data at all: no value or churn to speak of
        blank = [""] * n
        none = torch.zeros(n, dtype=torch.long)
        figures = {
            **dict.fromkeys(("recency_days", "monetary", "total_spend", "probability_active"), nan),
            **dict.fromkeys(("expected_purchases", "clv", "churn_probability"), nan),
            "usual_gap_days": nan,
            **dict.fromkeys(("rfm_score", "rfm_segment", "lifecycle_stage"), blank),
            **dict.fromkeys(("value_explanation", "churn_explanation"), blank),
            "frequency": none,
        }
        return CustomerColumns({**figures, **habits}, fit={"basis": "none"})
    # "now" is the population's: a neighbourhood's latest action may be older than the full
    # run's (an incremental run takes the later of the two)
    now = max([*latest, int((fitted or {}).get("as_of_ms", -1))])
    end_day = now // DAY_MS
    basis = "orders" if placed is not None else "activity"
    o = occasions(*placed) if placed is not None else occasions(actions.user, actions.ts)
    if fitted is not None and fitted.get("basis") != basis:
        fitted = None  # fitted on orders, now activity (or the reverse): fit afresh
    value = compute_value(o, n, end_day, config.value_config(), (fitted or {}).get("value"))
    money = placed is not None and bool((placed[2] > 0).any())
    if fitted is not None and "money" in fitted:  # the full run's decision, not a neighbourhood's
        money = placed is not None and bool(fitted["money"])
    # Forecasts need history at least as long as the horizon they speak of: a year's CLV from a
    # few days of data is an extrapolation, not a figure. A full run decides; an incremental
    # one (a neighbourhood, not the population's span) keeps its decision.
    forecasts = (fitted or {}).get("forecasts") or _forecast_support(
        actions, placed, now, config.horizon_weeks
    )
    if not forecasts["supported"]:
        value = replace(value, expected_purchases=nan.clone(), clv=nan.clone())
    horizon_ms = int(config.horizon_weeks * 7 * DAY_MS)
    follows = snapshot.edges.get(FOLLOWS)
    src = follows.src if follows is not None else torch.empty(0, dtype=torch.long)
    dst = follows.dst if follows is not None else torch.empty(0, dtype=torch.long)
    churn = nan.clone()
    churn_fit: dict[str, Any] = {"model": None}
    explanations = [""] * n
    if actions.ts.numel():
        known = (fitted or {}).get("churn", {}).get("weights")
        probability, features, model = predict_churn(
            GraphAsOf(actions, src, dst, n, adopted),
            at=now,
            horizon_ms=horizon_ms,
            model=ChurnModel.from_dict(known) if known else None,
            bgnbd=(fitted or {}).get("churn", {}).get("bgnbd") if known else None,
        )
        risk = features.at_risk
        churn[risk] = probability[risk]
        if model is None:  # nothing to learn from (under two horizons, or no variety)
            churn = nan.clone()
        churn_fit = {
            "model": "none"
            if model is None
            else "logistic, behaviour + graph"
            if len(model.columns) > len(BEHAVIOUR)
            else "logistic, behaviour (the graph did not validate)",
            "supported": model is not None,
            "reason": "no churn to learn from: under two horizons of history, or every "
            "at-risk user went the same way"
            if model is None
            else None,
            "at_risk": int(risk.sum()),
            "weights": model.to_dict() if model is not None else None,
            "bgnbd": features.bgnbd,
        }
        explanations = churn_sentences(churn, features.values, risk, src, n, config)
    return CustomerColumns(
        {
            **value_fields(value, basis, money, churn, config),
            "churn_probability": churn,
            "churn_explanation": explanations,
            **habits,
        },
        fit={
            "basis": basis,
            "money": money,  # amounts known: the online path words and values as the run did
            "as_of_ms": now,
            "value": value.fit,
            "churn": churn_fit,
            "forecasts": forecasts,
        },
    )


def value_fields(
    value: Value, basis: str, money: bool, churn: Tensor, config: CustomerConfig
) -> dict[str, Any]:
    """The profile's value fields from the value columns: what a refresh writes and what the
    online path (:mod:`engine.dimensions.online`) recomputes after an order, the same way."""
    nan = torch.full_like(value.recency_days, float("nan"))
    money_or_nan = (lambda t: t) if money else (lambda t: nan.clone())
    return {
        "recency_days": value.recency_days,
        "frequency": value.frequency.to(torch.long),
        "usual_gap_days": value.usual_gap_days,
        "monetary": money_or_nan(value.monetary),
        "total_spend": money_or_nan(torch.where(value.buyer, value.total_spend, nan)),
        "rfm_score": value.rfm_score,
        "rfm_segment": value.rfm_segment,
        "probability_active": value.probability_active,
        "expected_purchases": value.expected_purchases,
        "clv": money_or_nan(value.clv),
        "lifecycle_stage": value.stage,
        "value_explanation": [
            text + (f"; {note}" if note else "")
            for text, note in zip(
                _value_sentences(value, basis, money, config),
                stage_notes(value, churn),
                strict=True,
            )
        ],
    }


def _value_sentences(value: Any, basis: str, money: bool, config: CustomerConfig) -> list[str]:
    units = ("order", "orders") if basis == "orders" else ("active day", "active days")
    out = []
    columns = (
        value.buyer.tolist(),
        value.stage,
        value.frequency.tolist(),
        value.recency_days.tolist(),
        value.usual_gap_days.tolist(),
        value.monetary.tolist(),
        value.probability_active.tolist(),
        value.expected_purchases.tolist(),
        value.clv.tolist(),
        value.rfm_segment,
    )
    for buyer, stage, freq, recency, gap, monetary, alive, expected, clv, segment in zip(
        *columns, strict=True
    ):
        if not buyer:
            out.append("")
            continue
        forecast = (
            f"{expected:.1f} {units[1]} expected in the next {config.horizon_weeks:g} weeks"
            if not math.isnan(expected)
            else "no forecast (too short a history)"
        )
        text = (
            f"{stage}: {int(freq)} {units[int(freq) != 1]}, the last {recency:.0f} days ago "
            f"(usual gap {gap:.0f} days); RFM {segment}; P(still active) {alive:.0%}, {forecast}"
        )
        if money and not math.isnan(monetary):
            text += f"; {monetary:.2f} per order"
            if not math.isnan(clv):
                text += f", CLV {clv:.2f} over {config.clv_weeks:g} weeks"
        out.append(text)
    return out


def stage_note(stage: str, p_active: float, churn: float, recency: float, usual: float) -> str:
    """Why the lifecycle stage and the churn probability say different things, where they do
    ("" where they agree or one is missing). The stage is a rule on this customer's own rhythm
    and P(still active); the churn probability a model that also reads the population and the
    followees: they may disagree, and the profile says so instead of leaving both standing."""
    if churn != churn or not stage:
        return ""
    if stage == "at risk" and churn < 0.3:
        why = (
            f"quiet {recency:.0f} days, over twice their usual gap of {usual:.0f}"
            if p_active >= 0.7
            else f"P(still active) {p_active:.0%} is under 70 %"
        )
        return (
            f"the stage says at risk by its rule ({why}), while the churn model, which also "
            f"reads the population and the followees, gives only {churn:.0%}"
        )
    if stage in ("active", "new") and churn > 0.7:
        return (
            f"the stage says {stage} by its rule (P(still active) {p_active:.0%}), while the "
            f"churn model gives {churn:.0%}: it reads the population's and the followees' "
            "recent behaviour too"
        )
    return ""


def stage_notes(value: Any, churn: Tensor) -> list[str]:
    """:func:`stage_note` for every user."""
    return [
        stage_note(stage, p, c, r, g)
        for stage, p, c, r, g in zip(
            value.stage,
            value.probability_active.tolist(),
            churn.tolist(),
            value.recency_days.tolist(),
            value.usual_gap_days.tolist(),
            strict=True,
        )
    ]


def churn_sentences(
    churn: Tensor, features: Tensor, risk: Tensor, src: Tensor, n: int, config: CustomerConfig
) -> list[str]:
    names = BEHAVIOUR + SOCIAL
    column = {name: features[:, names.index(name)].tolist() for name in names}
    followees = torch.bincount(src, minlength=n).tolist()
    out = []
    for u, (p, at_risk) in enumerate(zip(churn.tolist(), risk.tolist(), strict=True)):
        if not at_risk:
            out.append("")
            continue
        recency = math.expm1(column["log_recency_days"][u])
        gap = math.expm1(column["log_usual_gap_days"][u])
        text = (
            f"churn {p:.0%} over {config.horizon_weeks:g} weeks: last active {recency:.0f} days "
            f"ago (usual gap {gap:.0f} days)"
        )
        if followees[u]:
            inactive = round(followees[u] * (1 - column["followees_active_share"][u]))
            churned = round(followees[u] * column["followees_churned_share"][u])
            text += (
                f"; {inactive} of {followees[u]} followees inactive lately, {churned} of them "
                "just churned"
            )
        out.append(text)
    return out
