"""Which influence score a run ships: the model only where it beats every baseline.

The choice is made on validation data the run can see: the same question asked one, two and
three horizons earlier (predict the adoptions of ``(at - j h, at - (j - 1) h]`` from what was
known at ``at - j h``), averaged. The model
and each baseline (past adoptions, PageRank, ArticleRank, follower counts) are scored by
Spearman correlation with those adoptions; the best one is then computed at ``at`` and shipped.
A baseline's raw score (a rank mass, a follower count) is put on the model's scale - expected
adoptions over the next horizon - by quantile mapping onto the adoptions counted in the latest
horizon, so ``profile_influence`` means the same whichever method won.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata
from torch import Tensor

from engine.adoptions import Actions, Adoptions, influence_counts
from engine.influence import predict_influence
from engine.influence_evaluation import baseline_scores, evaluate_influence

MODEL = "model"


@dataclass(frozen=True)
class InfluenceChoice:
    score: Tensor  # [U] expected adoptions over the next horizon
    shipped: str  # "model" or the name of the baseline that won on validation
    validation: dict[str, dict[str, float]]  # method -> figures on the validation period

    def describe(self) -> dict[str, Any]:
        return {"shipped": self.shipped, "validation": self.validation}


def on_count_scale(score: Tensor, reference: Tensor) -> Tensor:
    """``score`` mapped, rank for rank, onto the distribution of ``reference`` (ties share the
    mean rank, so equal scores stay equal and the order is kept)."""
    n = score.numel()
    if n == 0:
        return score.to(torch.float32)
    quantile = (rankdata(score.numpy(), method="average") - 1) / max(n - 1, 1)
    levels = np.sort(reference.to(torch.float64).numpy())
    mapped = np.interp(quantile * (n - 1), np.arange(n), levels)
    return torch.from_numpy(mapped).to(torch.float32)


def choose_influence(
    actions: Actions,
    follow_src: Tensor,
    follow_dst: Tensor,
    n_users: int,
    *,
    at: int,
    horizon_ms: int,
    window_ms: int,
    adopted: Adoptions,
    seed: int = 0,
    periods: int = 3,
    device: torch.device | str = "cpu",
) -> InfluenceChoice:
    """The influence score to ship at ``at``. The validation is the mean over up to
    ``periods`` earlier horizons (one period is noisy where few users carry the signal); where
    the data is too short for any (less than two horizons of actions), the model ships and
    ``validation`` is empty."""
    earliest = int(actions.ts.min()) if actions.ts.numel() else at
    tables = [
        evaluate_influence(
            actions.before(at - (j - 1) * horizon_ms),
            follow_src,
            follow_dst,
            n_users,
            split_ts=at - j * horizon_ms,
            horizon_ms=horizon_ms,
            window_ms=window_ms,
            seed=seed,
            device=device,
        )
        for j in range(1, periods + 1)
        if at - (j + 1) * horizon_ms > earliest
    ]
    validation = {
        name: {key: sum(t[name][key] for t in tables) / len(tables) for key in tables[0][name]}
        for name in (tables[0] if tables else {})
    }
    if validation:
        validation[MODEL]["periods"] = float(len(tables))
    best = MODEL
    for name, figures in validation.items():  # the model wins ties
        if figures["spearman"] > validation[best]["spearman"]:
            best = name
    if best == MODEL:
        score = predict_influence(
            actions,
            follow_src,
            follow_dst,
            n_users,
            at=at,
            horizon_ms=horizon_ms,
            adopted=adopted,
            seed=seed,
            device=device,
        )
    else:
        raw = baseline_scores(adopted, follow_src, follow_dst, n_users, at=at)[best]
        score = on_count_scale(raw, influence_counts(adopted, n_users, at - horizon_ms, at))
    return InfluenceChoice(score, best, validation)
