"""Sentiment scorers against the stars, on held-out reviews: which one ships per language.

For each seed the rated reviews with text are split at random 60/20/20 (train, validation,
test) by writer: all of a user's reviews fall in one split, so neither their style nor a review
repeated under several product variants (the 5-core sets hold such copies) is seen on both
sides. The fitted model (:func:`engine.dimensions.sentiment.fit_sentiment`) learns from the
training reviews rated positive (4-5 stars) or negative (1-2); the shipped scorer needs no
training. Each is scored on the validation and test reviews: **AUC** of positive against
negative reviews (3 stars left out) and **Spearman** of the score with the stars (all of
them). The fitted model ships where its validation AUC beats the shipped scorer's by a paired
bootstrap over the validation reviews of every seed (the interval of the AUC difference above
zero); otherwise - a tie included - the shipped scorer does, and where the training split
holds fewer than ``min_train`` labelled reviews the fitted model is not tried. The constant
scorer (AUC 0.5, no Spearman) is the floor: where the chosen scorer does not beat it on
validation (the same bootstrap), nothing ships for the language (``ships`` is ``none``, with
the reason) - a shopping-review model on film comments may say nothing. Where the validation
splits hold fewer than ``MIN_VALIDATION_CLASS`` positive or negative reviews (writers are
split, and a few writers may hold most of the negative reviews) nothing can be shown either
way: the shipped scorer is used, and the reason says it was not validated here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import Tensor

from engine.dimensions.sentiment import (
    NEGATIVE_UPTO,
    POSITIVE_FROM,
    fit_sentiment,
    shipped_name,
    shipped_score,
)
from engine.evaluation.probability_metrics import auc
from engine.evaluation.significance import interval

RESAMPLES = 400
# fewer positive (or negative) validation reviews than this, over the seeds, cannot show a
# scorer beats the constant: the verdict is "not validated here", not "none"
MIN_VALIDATION_CLASS = 20


@dataclass(frozen=True)
class RatedTexts:
    texts: list[str]
    stars: list[float]
    language: str
    groups: list[str]  # the writer of each text: a writer's texts stay in one split
    shipped: Tensor | None = None  # the packaged scorer's score of each text, where known


def _labelled(stars: Tensor) -> tuple[Tensor, Tensor]:
    """The positive/negative reviews (mask) and their labels."""
    mask = (stars >= POSITIVE_FROM) | (stars <= NEGATIVE_UPTO)
    return mask, (stars[mask] >= POSITIVE_FROM).float()


def _metrics(score: Tensor, stars: Tensor) -> dict[str, float]:
    mask, label = _labelled(stars)
    varied = score.numel() > 2 and bool(score.std() > 0) and bool(stars.std() > 0)
    rho = spearmanr(score.numpy(), stars.numpy()).statistic if varied else float("nan")
    return {"auc": auc(score[mask], label), "spearman": float(rho)}


def _auc_draws(a: Tensor, b: Tensor, stars: Tensor, seed: int) -> Tensor:
    """Bootstrap draws of AUC(a) - AUC(b) over the labelled reviews (paired)."""
    mask, label = _labelled(stars)
    a, b = a[mask], b[mask]
    generator = torch.Generator().manual_seed(seed)
    draws = torch.empty(RESAMPLES, dtype=torch.float64)
    for k in range(RESAMPLES):
        pick = torch.randint(0, label.numel(), (label.numel(),), generator=generator)
        if label[pick].min() == label[pick].max():
            draws[k] = 0.0
            continue
        draws[k] = auc(a[pick], label[pick]) - auc(b[pick], label[pick])
    return draws


def _finite_mean(values: list[float], how: Any) -> float:
    """``how`` (mean or spread) of the defined values; NaN when none is (a constant score)."""
    finite = [v for v in values if v == v]
    return float(how(finite)) if finite else float("nan")


def evaluate_sentiment(
    data: RatedTexts, *, seeds: Sequence[int] = (0, 1, 2), min_train: int = 200
) -> dict[str, Any]:
    """Per scorer: test AUC and Spearman (mean and spread over seeds), the validation
    comparison, and which scorer ships for this language, with the number of reviews."""
    stars = torch.tensor(data.stars, dtype=torch.float64)
    shipped = (
        data.shipped
        if data.shipped is not None
        else torch.tensor([shipped_score(t, data.language) for t in data.texts])
    )
    n = len(data.texts)
    per_seed: dict[str, list[dict[str, float]]] = {"constant": [], shipped_name(data.language): []}
    draws: list[Tensor] = []
    floor: dict[str, list[Tensor]] = {"shipped": [], "fitted": []}  # each against the constant
    fitted_tried = True
    val_classes = torch.zeros(2)  # positive and negative validation reviews, over the seeds
    names = sorted(set(data.groups))
    group = torch.tensor([names.index(g) for g in data.groups]) if n else torch.empty(0)
    for seed in seeds:
        # writers, not reviews, are split: a writer's style (and the 5-core sets' copies of one
        # review under several product variants) must not sit on both sides
        rank = torch.randperm(len(names), generator=torch.Generator().manual_seed(seed))
        order = torch.argsort(rank[group] * n + torch.arange(n))
        train, val, test = (
            order[: n * 6 // 10],
            order[n * 6 // 10 : n * 8 // 10],
            order[n * 8 // 10 :],
        )
        per_seed["constant"].append({"auc": 0.5, "spearman": float("nan")})
        per_seed[shipped_name(data.language)].append(_metrics(shipped[test], stars[test]))
        _, val_label = _labelled(stars[val])
        val_classes += torch.stack([val_label.sum(), (1 - val_label).sum()])
        constant = torch.zeros(val.numel())
        floor["shipped"].append(_auc_draws(shipped[val], constant, stars[val], seed))
        mask, label = _labelled(stars[train])
        labelled = train[mask]
        if labelled.numel() < min_train or label.min() == label.max():
            fitted_tried = False
            continue
        model = fit_sentiment(
            [data.texts[i] for i in labelled.tolist()],
            [bool(x) for x in label.tolist()],
            data.language,
            seed=seed,
        )
        fitted = model.score([data.texts[i] for i in order.tolist()])
        scores = torch.empty(n)
        scores[order] = fitted
        per_seed.setdefault("fitted", []).append(_metrics(scores[test], stars[test]))
        draws.append(_auc_draws(scores[val], shipped[val], stars[val], seed))
        floor["fitted"].append(_auc_draws(scores[val], constant, stars[val], seed))
    rows = {
        name: {
            "test_auc": float(np.mean([r["auc"] for r in runs])),
            "test_auc_sd": float(np.std([r["auc"] for r in runs])),
            "test_spearman": _finite_mean([r["spearman"] for r in runs], np.mean)
            if name != "constant"
            else None,
            "test_spearman_sd": _finite_mean([r["spearman"] for r in runs], np.std)
            if name != "constant"
            else None,
        }
        for name, runs in per_seed.items()
        if runs
    }
    comparison = None
    ships = shipped_name(data.language)
    if fitted_tried and draws:
        mean_draws = torch.stack(draws).mean(0)
        low, high = interval(mean_draws)
        comparison = {
            "validation_auc_difference": float(mean_draws.mean()),
            "low": low,
            "high": high,
            "verdict": "beats" if low > 0 else "loses to" if high < 0 else "ties with",
        }
        if low > 0:
            ships = "fitted"
    # the winner must beat the constant on validation too, or no sentiment ships here
    chosen = floor["fitted" if ships == "fitted" else "shipped"]
    low, high = interval(torch.stack(chosen).mean(0)) if chosen else (float("nan"),) * 2
    reason = None if fitted_tried else f"fitted not tried: under {min_train} labelled reviews"
    fewest = int(val_classes.min())
    if fewest < MIN_VALIDATION_CLASS:  # a writer split can leave one class all but empty
        ships = shipped_name(data.language)
        kind = "positive" if int(val_classes.argmin()) == 0 else "negative"
        reason = (
            f"not validated here: {fewest} {kind} reviews in the validation splits "
            f"(fewer than {MIN_VALIDATION_CLASS})"
        )
    elif not low > 0:
        reason = (
            f"no scorer beats the constant on validation (AUC - 0.5 in [{low:.3f}, {high:.3f}])"
        )
        ships = "none"
    labelled_all, _ = _labelled(stars)
    return {
        "language": data.language,
        "reviews": n,
        "labelled": int(labelled_all.sum()),
        "seeds": list(seeds),
        "scorers": rows,
        "fitted_vs_shipped": comparison,
        "ships": ships,
        "versus_constant": {"low": low, "high": high},
        "reason": reason,
    }
