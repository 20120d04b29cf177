"""Who buys tomorrow, and what: purchase propensity from view / favourite / cart / buy events.

For a target day ``[t, t + 1 day)``, everything before ``t`` is known:

- **who buys**: a logistic model on each user's recent and lifetime counts per kind, days since
  their last action and last purchase, items carted and not bought, and their conversion rate;
  trained on the day before (features before ``t - 1 day``, purchases on that day), scored by
  AUC beside the user's activity (``activity``: the busiest users buy) and their past purchases
  (``own_history``);
- **what**: for the users who buy on the target day, Recall@k of the categories they buy,
  ranked by ``popularity`` (categories' purchases before ``t``), the user's ``own_history``
  (their actions per category, backed off to popularity) and the ``profile`` ranking: their
  actions weighted by kind and recency, with the kind weights and half-life chosen on the day
  before from a small grid.

The event arrays are exact (one row per action), so nothing after ``t`` is seen.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

from core.vocabulary import CARTED, FAVOURITED, PURCHASED, VIEWED
from engine.dimensions.adoptions import DAY_MS
from engine.dimensions.churn import fit_churn
from engine.evaluation.churn_evaluation import mean_std
from engine.evaluation.interest_prediction import past_snapshot
from engine.evaluation.probability_metrics import auc
from engine.sequences import action_categories
from engine.snapshot import Snapshot

VIEW, FAVOURITE, CART, BUY = range(4)
KIND_CODES = {"view": VIEW, "favourite": FAVOURITE, "cart": CART, "purchase": BUY}


@dataclass(frozen=True)
class Behaviours:
    """One row per action [A]: user, item, category index, kind code, time (ms)."""

    user: Tensor
    item: Tensor
    category: Tensor
    kind: Tensor
    ts: Tensor
    n_users: int
    n_categories: int

    def before(self, t: int) -> Behaviours:
        keep = self.ts < t
        return Behaviours(
            self.user[keep],
            self.item[keep],
            self.category[keep],
            self.kind[keep],
            self.ts[keep],
            self.n_users,
            self.n_categories,
        )

    def on_day(self, t: int) -> Tensor:
        return (self.ts >= t) & (self.ts < t + DAY_MS)


def _count(b: Behaviours, mask: Tensor) -> Tensor:
    return torch.bincount(b.user[mask], minlength=b.n_users).to(torch.float64)


def features(b: Behaviours, t: int) -> Tensor:
    """[U, F] what is known of each user before ``t``."""
    past = b.before(t)
    columns = []
    for kind in (VIEW, FAVOURITE, CART, BUY):
        is_kind = past.kind == kind
        for days in (1, 3):
            recent = is_kind & (past.ts >= t - days * DAY_MS)
            columns.append(_count(past, recent).log1p())
        columns.append(_count(past, is_kind).log1p())
    big = float(30 * DAY_MS)
    last = torch.full((b.n_users,), -big, dtype=torch.float64)
    last = last.scatter_reduce(0, past.user, past.ts.double(), "amax", include_self=True)
    buys = past.kind == BUY
    last_buy = torch.full((b.n_users,), -big, dtype=torch.float64)
    last_buy = last_buy.scatter_reduce(
        0, past.user[buys], past.ts[buys].double(), "amax", include_self=True
    )
    columns.append(((t - last) / DAY_MS).clamp(max=30).log1p())
    columns.append(((t - last_buy) / DAY_MS).clamp(max=30).log1p())
    # items carted and not bought (by the same user) before t
    carted = set(
        zip(
            past.user[past.kind == CART].tolist(),
            past.item[past.kind == CART].tolist(),
            strict=True,
        )
    )
    bought = set(zip(past.user[buys].tolist(), past.item[buys].tolist(), strict=True))
    open_carts = torch.zeros(b.n_users, dtype=torch.float64)
    for user, _ in carted - bought:
        open_carts[user] += 1
    columns.append(open_carts.log1p())
    views = _count(past, past.kind == VIEW)
    columns.append(_count(past, buys) / (views + 1))
    return torch.stack(columns, dim=1)


def buyers_on(b: Behaviours, t: int) -> Tensor:
    return _count(b, b.on_day(t) & (b.kind == BUY)) > 0


def _category_scores(
    b: Behaviours, t: int, weights: tuple[float, ...], half_life_days: float | None
) -> Tensor:
    """[U, C] each user's actions per category before ``t``, weighted by kind (and recency)."""
    past = b.before(t)
    w = torch.tensor(weights, dtype=torch.float64)[past.kind]
    if half_life_days is not None:
        w = w * torch.pow(0.5, (t - past.ts).double() / (half_life_days * DAY_MS))
    scores = torch.zeros(b.n_users * b.n_categories, dtype=torch.float64)
    scores.index_add_(0, past.user * b.n_categories + past.category, w)
    return scores.view(b.n_users, b.n_categories)


def _popularity(b: Behaviours, t: int) -> Tensor:
    past = b.before(t)
    buys = past.kind == BUY
    return torch.bincount(past.category[buys], minlength=b.n_categories).to(torch.float64)


def _recall(scores: Tensor, b: Behaviours, t: int, users: Tensor, k: int) -> float:
    """Mean over ``users`` of the share of their target-day purchase categories in their
    top-``k`` ranked categories."""
    day = b.on_day(t) & (b.kind == BUY)
    bought: dict[int, set[int]] = {}
    for u, c in zip(b.user[day].tolist(), b.category[day].tolist(), strict=True):
        bought.setdefault(u, set()).add(c)
    top = torch.topk(scores[users], min(k, b.n_categories), dim=1).indices.tolist()
    hits = [
        len(bought[u] & set(row)) / len(bought[u])
        for u, row in zip(users.tolist(), top, strict=True)
        if u in bought
    ]
    return statistics.fmean(hits) if hits else float("nan")


def _with_backoff(own: Tensor, popularity: Tensor) -> Tensor:
    """Own scores first; ties (and users with nothing) ranked by popularity."""
    tie_break = popularity / (popularity.max() + 1) * 1e-6
    scale = own.max(dim=1, keepdim=True).values.clamp(min=1e-12)
    return own / scale + tie_break


KIND_WEIGHT_GRID = ((1, 1, 1, 1), (1, 2, 3, 4), (1, 3, 5, 8))
HALF_LIFE_GRID = (None, 0.5, 1.0, 3.0)


def _fit_profile(b: Behaviours, t: int, k: int) -> tuple[tuple[float, ...], float | None]:
    """Kind weights and half-life with the best Recall@k on the day before ``t``."""
    day_before = t - DAY_MS
    users = torch.nonzero(buyers_on(b, day_before)).flatten()
    popularity = _popularity(b, day_before)
    best, best_recall = (KIND_WEIGHT_GRID[0], None), -1.0
    for weights, half_life in itertools.product(KIND_WEIGHT_GRID, HALF_LIFE_GRID):
        scores = _with_backoff(_category_scores(b, day_before, weights, half_life), popularity)
        recall = _recall(scores, b, day_before, users, k)
        if recall == recall and recall > best_recall:
            best, best_recall = (weights, half_life), recall
    return best


def propensity_predictions_at(
    b: Behaviours, t: int, k: int
) -> tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Any]]:
    """Who buys on the day starting at ``t`` and in which categories, each method's scores
    from the behaviours before it (the model trained on the day before), and the fitted kind
    weights and half-life. ``b`` holds what is known at ``t``: its categories as of then."""
    past = b.before(t)
    before = b.before(t - DAY_MS)
    train_x, train_y = features(b, t - DAY_MS), buyers_on(b, t - DAY_MS)
    active_before = _count(before, torch.ones_like(before.user, dtype=torch.bool)) > 0
    model = fit_churn(train_x[active_before], train_y[active_before], list(range(train_x.size(1))))
    who = {
        "activity": _count(past, torch.ones_like(past.user, dtype=torch.bool)),
        "own_history": _count(past, past.kind == BUY),
        "model": model.predict(features(b, t)),
    }
    popularity = _popularity(b, t)
    weights, half_life = _fit_profile(b, t, k)
    what = {
        "popularity": popularity.expand(b.n_users, -1),
        "own_history": _with_backoff(_category_scores(b, t, (1, 1, 1, 1), None), popularity),
        "profile": _with_backoff(_category_scores(b, t, weights, half_life), popularity),
    }
    return who, what, {"kind_weights": list(weights), "half_life_days": half_life}


def evaluate_propensity(
    b: Behaviours,
    target_days: list[int],
    k: int = 10,
    *,
    known_at: Callable[[int], Behaviours] | None = None,
) -> dict[str, Any]:
    """Per target day (ms at its start): who-buys AUC and which-categories Recall@k, each
    beside its baselines; mean ± std over the days. ``known_at(t)``: the behaviours as known
    at ``t`` (their categories as of then) that the predictions read; default ``b`` (its
    categories fixed, a catalogue's)."""
    rows = []
    for t in target_days:
        who, what, fit = propensity_predictions_at(known_at(t) if known_at else b, t, k)
        past = b.before(t)
        y = buyers_on(b, t)
        known = _count(past, torch.ones_like(past.user, dtype=torch.bool)) > 0
        buyers = torch.nonzero(y & known).flatten()
        rows.append(
            {
                "day": t,
                "users": int(known.sum()),
                "buyers": int(buyers.numel()),
                "who_buys_auc": {name: auc(s[known], y[known]) for name, s in who.items()},
                f"categories_recall@{k}": {
                    name: _recall(s, b, t, buyers, k) for name, s in what.items()
                },
                "profile_fit": fit,
            }
        )
    summary: dict[str, dict[str, float]] = {}
    for key in ("who_buys_auc", f"categories_recall@{k}"):
        for name in rows[0][key] if rows else ():
            # a day without buyers (or without both classes) has no figure: left out
            summary.setdefault(key, {}).update(mean_std(name, [r[key][name] for r in rows]))
    return {"k": k, "rows": rows, "summary": summary}


REL_KINDS = {VIEWED: VIEW, FAVOURITED: FAVOURITE, CARTED: CART, PURCHASED: BUY}


def behaviours_from_log(snapshot: Snapshot) -> Behaviours | None:
    """The snapshot's action log as behaviours (views, favourites, carts, purchases with the
    item's category); None without a log or without both views and purchases."""
    log = snapshot.actions
    if log is None or not {VIEWED, PURCHASED} <= set(log.kinds):
        return None
    code = torch.tensor([REL_KINDS.get(k, -1) for k in log.kinds], dtype=torch.long)
    kind = code[log.kind] if len(log) else torch.zeros(0, dtype=torch.long)
    keep = (kind >= 0) & (log.ts >= 0)
    if not bool((kind[keep] == VIEW).any()) or not bool((kind[keep] == BUY).any()):
        return None
    category = action_categories(log, snapshot)[keep]
    n_categories = snapshot.num_nodes("category")
    # an item without a category counts as one "unknown" category
    category = torch.where(category >= 0, category, n_categories)
    return Behaviours(
        log.user[keep],
        log.item[keep],
        category,
        kind[keep],
        log.ts[keep],
        snapshot.num_nodes("user"),
        n_categories + 1,
    )


def behaviours_at(snapshot: Snapshot, t: int) -> Behaviours | None:
    """The log's behaviours before ``t`` with their categories as known then (an item's
    category from the tags given by then; none known: the "unknown" category)."""
    b = behaviours_from_log(snapshot)
    if b is None:
        return None
    known = behaviours_from_log(past_snapshot(snapshot, t - 1))
    if known is not None:
        return known
    past = b.before(t)
    return replace(past, category=torch.full_like(past.category, b.n_categories - 1))


def last_days(b: Behaviours, n: int = 3) -> list[int]:
    """The starts (ms) of the last ``n`` whole days of the data, oldest first."""
    last = int(b.ts.max()) // DAY_MS * DAY_MS
    return [last - j * DAY_MS for j in range(n - 1, -1, -1)]


def behaviours_from_events(events: list[dict[str, Any]]) -> tuple[Behaviours, list[str]]:
    """Interaction events (with the items' categories from their upserts) as arrays; returns
    the user ids too."""
    category_of: dict[str, str] = {}
    users: dict[str, int] = {}
    items: dict[str, int] = {}
    categories: dict[str, int] = {}
    rows = []
    for e in events:
        if e["type"] == "item_upsert" and e.get("categories"):
            category_of[e["item_id"]] = e["categories"][0]
        elif e["type"] == "interaction" and e["kind"] in KIND_CODES and e.get("ts") is not None:
            c = category_of.get(e["item_id"], "")
            rows.append(
                (
                    users.setdefault(e["user_id"], len(users)),
                    items.setdefault(e["item_id"], len(items)),
                    categories.setdefault(c, len(categories)),
                    KIND_CODES[e["kind"]],
                    int(e["ts"]),
                )
            )
    user, item, category, kind, ts = (torch.tensor(col) for col in zip(*rows, strict=True))
    return Behaviours(user, item, category, kind, ts, len(users), len(categories)), list(users)
