"""What this data set supports: per dimension, whether a run's figures mean something here, and
why not where they do not.

A dimension the data cannot support is written as null with its reason, never as a confident
number (an influence rank without follows, a year's CLV from a week of history, churn without
two horizons of activity). Each stage decides for itself and says so in the run's metrics; this
module gathers those decisions and the data's own facts (timestamps, follows, amounts, rating
scale) into one table per run - ``metrics["support"]`` - that the report and
``profilegraph profile`` show.
"""

from __future__ import annotations

from typing import Any

from core.vocabulary import FOLLOWS, ORDERS, RATINGS
from engine.interactions import rating_threshold
from engine.snapshot import Snapshot


def _row(supported: bool, reason: str) -> dict[str, Any]:
    return {"supported": supported, "reason": reason}


def data_facts(snapshot: Snapshot) -> dict[str, dict[str, Any]]:
    """What the data holds, whatever the models made of it."""
    interactions = [e for (s, _, d), e in snapshot.edges.items() if s == "user" and d == "item"]
    n = sum(len(e) for e in interactions)
    timed = sum(int((e.ts >= 0).sum()) for e in interactions)
    follows = snapshot.edges.get(FOLLOWS)
    n_follows = len(follows) if follows is not None else 0
    timed_follows = int((follows.ts >= 0).sum()) if follows is not None else 0
    orders = snapshot.edges.get(ORDERS)
    priced = int((orders.weight > 0).sum()) if orders is not None else 0
    threshold = rating_threshold(snapshot)
    rated = any(rel in RATINGS for (_, rel, _) in snapshot.edges)
    return {
        "timestamps": _row(
            timed > 0,
            f"{timed:,} of {n:,} interactions carry a time"
            + ("" if timed else ": no temporal validation, recency or churn"),
        ),
        "follows": _row(
            n_follows > 0,
            f"{n_follows:,} follows, {timed_follows:,} of them timed"
            if n_follows
            else "no follows: influence and the friends' share of interests do not apply",
        ),
        "amounts": _row(
            priced > 0,
            f"{priced:,} orders with an amount"
            if priced
            else "no order carries an amount: monetary value and CLV do not apply",
        ),
        "ratings": _row(
            True,
            f"ratings count as interest from {threshold:g} (the middle of the data's own scale)"
            if rated and threshold is not None
            else "implicit feedback only: every interaction is evidence",
        ),
    }


def run_support(snapshot: Snapshot, metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per dimension, supported or not and why: the data's facts, and each stage's decision as
    its metrics record it (``run_full``'s)."""
    out = data_facts(snapshot)
    influence = metrics.get("influence", {})
    out["influence"] = _row(
        bool(influence.get("supported")),
        influence.get("reason") or f"ships {influence.get('shipped', 'nothing')}",
    )
    customer = metrics.get("customer", {})
    churn = customer.get("churn") or {}
    out["churn"] = _row(
        bool(churn.get("supported")),
        churn.get("reason") or churn.get("model") or "no timed data",
    )
    forecasts = customer.get("forecasts") or {}
    out["forecasts"] = _row(
        bool(forecasts.get("supported")),
        forecasts.get("reason")
        or (
            f"{forecasts['history_weeks']:.0f} weeks of history"
            if "history_weeks" in forecasts
            else "no timed data"
        ),
    )
    interest = metrics.get("interest_model", {})
    out["interests"] = _row(
        True,
        "fitted on this data's temporal validation split"
        if interest.get("fitted")
        else f"default mix, not fitted ({interest.get('reason', 'no validation data')})",
    )
    nxt = metrics.get("next") or {}
    out["next_behaviour"] = _row(
        bool(nxt),
        f"next categories from {nxt.get('next_categories_from', 'the sequence model')}"
        if nxt
        else "no action log with a user of two actions: no sequence model",
    )
    return out
