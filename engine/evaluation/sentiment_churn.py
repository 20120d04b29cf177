"""Does what a customer writes say they will go quiet? Churn with and without review sentiment.

The reviews are the actions (a review is the customer's activity here). At each cut ``t``
(quantiles of the review times that leave a whole horizon after them) the users who reviewed
in ``(t - H, t]`` are at risk; they churned when they wrote nothing in ``(t, t + H]``. Every
model is the churn model of :mod:`engine.dimensions.churn` (logistic regression, trained on
the features at ``t - H`` against ``(t - H, t]``, applied at ``t``) on these columns:

- ``behaviour``: the churn model's behaviour features (recency, activity, tenure, gaps, BG/NBD);
- ``+stars``: with the stars of the user's reviews known at the time (mean, share of 1-2
  stars, the latest);
- ``+text``: with the sentiment of the same reviews' words instead (mean score, share below
  0.5, the latest review's score, days since the latest negative one);
- ``+stars+text``: with both.

The text scorer is the packaged one of the language (VADER, SnowNLP): it learnt nothing from
these reviews, so no score can carry a later review's stars into an earlier cut. The horizon
is the data's own usual gap: the median time between a user's consecutive reviews (at least a
week, at most a year), not a figure chosen per data set.

The gains (``+text`` over ``behaviour``; ``+stars+text`` over ``+stars``: does the text say
more than the stars?) are paired over the at-risk users of each cut: bootstrap draws of the AUC
difference per cut, averaged over the cuts, give the interval; a gain whose interval lies above
zero *beats*, one below *loses*, otherwise the two *tie* and the simpler model stands.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from engine.dimensions.adoptions import DAY_MS, Actions
from engine.dimensions.churn import BEHAVIOUR, FeatureTimeline, churned_after, fit_churn
from engine.evaluation.probability_metrics import auc
from engine.evaluation.significance import interval
from engine.graph_as_of import GraphAsOf

RESAMPLES = 400
NEGATIVE_BELOW = 0.5
STARS = ("mean_stars", "low_star_share", "latest_stars")
TEXT = ("mean_sentiment", "negative_share", "latest_sentiment", "log_days_since_negative")
METHODS = ("behaviour", "+stars", "+text", "+stars+text")
GAINS = (("+text", "behaviour"), ("+stars+text", "+stars"))


@dataclass(frozen=True)
class TimedReviews:
    user: Tensor  # [R] user index
    item: Tensor  # [R] item index
    ts: Tensor  # [R] epoch ms
    stars: Tensor  # [R] 1-5
    score: Tensor  # [R] sentiment in [0, 1] (the packaged scorer's)


def usual_horizon_ms(reviews: TimedReviews) -> int:
    """The median gap between a user's consecutive reviews, in whole days within [7, 365]."""
    order = torch.argsort(reviews.ts, stable=True)
    order = order[torch.argsort(reviews.user[order], stable=True)]
    user, ts = reviews.user[order], reviews.ts[order]
    same = user[1:] == user[:-1]
    gaps = (ts[1:] - ts[:-1])[same & (ts[1:] > ts[:-1])]
    days = math.ceil(float(gaps.double().median()) / DAY_MS) if gaps.numel() else 90
    return min(max(days, 7), 365) * DAY_MS


def _last_per_user(user: Tensor, ts: Tensor, value: Tensor, n: int) -> Tensor:
    """Each user's value at their latest time (ties: the later row); NaN for none. (An
    indexed write with repeated users keeps an arbitrary one of them: the rows are sorted by
    user and time and the last of each user's run is read instead.)"""
    order = torch.argsort(ts, stable=True)
    order = order[torch.argsort(user[order], stable=True)]
    sorted_user = user[order]
    last = torch.ones(sorted_user.numel(), dtype=torch.bool)
    last[:-1] = sorted_user[1:] != sorted_user[:-1]
    out = torch.full((n,), float("nan"), dtype=torch.float64)
    out[sorted_user[last]] = value[order][last].double()
    return out


def review_features(reviews: TimedReviews, at: int, n: int) -> Tensor:
    """[U, len(STARS) + len(TEXT)]: the star and text features from the reviews up to ``at``
    (a user without any: the population's means, days since a negative: ten years)."""
    known = reviews.ts <= at
    user, ts = reviews.user[known], reviews.ts[known]
    stars, score = reviews.stars[known].double(), reviews.score[known].double()
    count = torch.bincount(user, minlength=n).double()

    def mean(values: Tensor) -> Tensor:
        total = torch.zeros(n, dtype=torch.float64).index_add_(0, user, values)
        fill = float(values.mean()) if values.numel() else 0.0
        return torch.where(count > 0, total / count.clamp(min=1), fill)

    negative = score < NEGATIVE_BELOW
    last_negative = torch.full((n,), -1, dtype=torch.long).scatter_reduce(
        0, user[negative], ts[negative], "amax"
    )
    days = torch.where(last_negative >= 0, (at - last_negative) / DAY_MS, 3650.0).double()

    def latest(values: Tensor) -> Tensor:
        got = _last_per_user(user, ts, values, n)
        return torch.where(torch.isnan(got), float(values.mean()) if values.numel() else 0.0, got)

    columns = [
        mean(stars),
        mean((stars <= 2).double()),
        latest(stars),
        mean(score),
        mean(negative.double()),
        latest(score),
        days.clamp(min=0).log1p(),
    ]
    return torch.stack(columns, dim=1)


def _draws(a: Tensor, b: Tensor, truth: Tensor, seed: int) -> Tensor:
    """Bootstrap draws of AUC(a) - AUC(b) over the at-risk users (paired)."""
    generator = torch.Generator().manual_seed(seed)
    out = torch.zeros(RESAMPLES, dtype=torch.float64)
    for k in range(RESAMPLES):
        pick = torch.randint(0, truth.numel(), (truth.numel(),), generator=generator)
        if bool(truth[pick].all()) or not bool(truth[pick].any()):
            continue
        out[k] = auc(a[pick], truth[pick]) - auc(b[pick], truth[pick])
    return out


def evaluate_sentiment_churn(
    reviews: TimedReviews,
    *,
    quantiles: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8),
    horizon_ms: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Per cut: the at-risk users, the churn rate and each method's AUC; over the cuts: each
    method's mean and spread and the paired gains with their intervals."""
    horizon = horizon_ms or usual_horizon_ms(reviews)
    n = int(reviews.user.max()) + 1 if reviews.user.numel() else 0
    actions = Actions(reviews.user, reviews.item, reviews.ts)
    ordered = reviews.ts.sort().values
    cuts = [int(ordered[int(q * (ordered.numel() - 1))]) for q in quantiles] if n else []
    cuts = [c for c in cuts if c + horizon <= int(ordered[-1])]
    behaviour = list(range(len(BEHAVIOUR)))
    width = len(BEHAVIOUR)
    columns = {
        "behaviour": behaviour,
        "+stars": behaviour + list(range(width, width + len(STARS))),
        "+text": behaviour + list(range(width + len(STARS), width + len(STARS) + len(TEXT))),
        "+stars+text": list(range(width + len(STARS) + len(TEXT))),
    }
    rows: list[dict[str, Any]] = []
    draws: dict[str, list[Tensor]] = {f"{a} vs {b}": [] for a, b in GAINS}
    for at in cuts:
        timeline = FeatureTimeline(GraphAsOf(actions.before(at), *_no_follows(), n), horizon)
        early = at - horizon
        train = timeline.outcomes(early)
        before, now = timeline.at(early), timeline.at(at)
        truth = churned_after(actions, n, at, horizon)[now.at_risk]
        if not (_varied(train) and _varied(truth)):
            continue
        x_before = torch.cat([before.values[:, :width], review_features(reviews, early, n)], 1)
        x_now = torch.cat([now.values[:, :width], review_features(reviews, at, n)], 1)
        scores = {}
        for name, cols in columns.items():
            model = fit_churn(x_before[before.at_risk], train, cols)
            scores[name] = model.predict(x_now[now.at_risk])
        row: dict[str, Any] = {
            "cut": at,
            "at_risk": int(now.at_risk.sum()),
            "churn_rate": float(truth.float().mean()),
            **{name: auc(score, truth) for name, score in scores.items()},
        }
        for a, b in GAINS:
            draws[f"{a} vs {b}"].append(_draws(scores[a], scores[b], truth, seed + len(rows)))
        rows.append(row)
    summary: dict[str, Any] = {}
    for name in METHODS:
        values = [r[name] for r in rows]
        if values:
            summary[name] = {
                "auc": statistics.fmean(values),
                "auc_sd": statistics.pstdev(values) if len(values) > 1 else 0.0,
            }
    gains = {}
    for key, per_cut in draws.items():
        if not per_cut:
            continue
        a, b = key.split(" vs ")
        low, high = interval(torch.stack(per_cut).mean(0))
        gains[key] = {
            "difference": statistics.fmean([r[a] - r[b] for r in rows]),
            "low": low,
            "high": high,
            "verdict": "beats" if low > 0 else "loses to" if high < 0 else "ties with",
        }
    return {
        "horizon_days": horizon / DAY_MS,
        "cuts": len(rows),
        "users": n,
        "reviews": int(reviews.user.numel()),
        "rows": rows,
        "summary": summary,
        "gains": gains,
        # the profile's churn model reads no stars: text earns a place by beating behaviour
        "text_ships": gains.get("+text vs behaviour", {}).get("verdict") == "beats",
    }


def _no_follows() -> tuple[Tensor, Tensor]:
    return torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long)


def _varied(label: Tensor) -> bool:
    return label.numel() >= 10 and bool(label.any()) and not bool(label.all())
