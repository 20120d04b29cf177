"""How good a probability is: AUC (does it rank), Brier score and a reliability curve (is it
calibrated)."""

from __future__ import annotations

import torch
from scipy.stats import rankdata
from torch import Tensor


def auc(score: Tensor, label: Tensor) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half); NaN with one class only."""
    y = label.bool()
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = torch.from_numpy(rankdata(score.double().numpy()))
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def brier(probability: Tensor, label: Tensor) -> float:
    return float(((probability.double() - label.double()) ** 2).mean())


def reliability(probability: Tensor, label: Tensor, bins: int = 10) -> list[dict[str, float]]:
    """Per equal-width probability bin: mean prediction, observed rate, count."""
    p, y = probability.double(), label.double()
    which = (p * bins).long().clamp(0, bins - 1)
    rows = []
    for b in range(bins):
        inside = which == b
        if bool(inside.any()):
            rows.append(
                {
                    "predicted": float(p[inside].mean()),
                    "observed": float(y[inside].mean()),
                    "count": float(inside.sum()),
                }
            )
    return rows


def calibration_error(bins: list[dict[str, float]]) -> float:
    """Expected calibration error: the count-weighted mean gap between predicted and observed
    over the reliability bins."""
    total = sum(b["count"] for b in bins)
    if not total:
        return float("nan")
    return sum(b["count"] * abs(b["predicted"] - b["observed"]) for b in bins) / total
