"""Which influence score a run ships: the model only where it beats every baseline.

The choice is made on validation data the run can see: the same question asked one, two and
three horizons earlier (predict the adoptions of ``(at - j h, at - (j - 1) h]`` from what was
known at ``at - j h``), averaged. The model and each baseline (past adoptions, PageRank,
ArticleRank, follower counts) are scored by Spearman correlation with those adoptions. The
model ships only where it *beats* the best baseline: the paired bootstrap interval of the
difference (users resampled, the same samples for both) lies above zero. Otherwise the two tie
and the simpler method, the baseline, ships. Where the data cannot say anything (no follows,
or no adoption along any follow in the validation periods) influence is null, with the reason.
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

from engine.dimensions.adoptions import DAY_MS, influence_counts
from engine.evaluation.influence_evaluation import (
    baseline_scores,
    influence_scores,
    precision_at_k,
    spearman,
    spearman_draws,
)
from engine.evaluation.significance import interval
from engine.graph_as_of import GraphAsOf
from engine.models.influence import predict_influence

MODEL = "model"
PRECISION_K = 50
HORIZON_FRACTION = 0.2  # the influence question's horizon, as a share of the data's time span


def influence_horizon_ms(span_ms: int, fraction: float = HORIZON_FRACTION) -> int:
    """The horizon the influence question is asked over, in a refresh and in its evaluation
    alike: ``fraction`` of the data's time span, at least a day."""
    return max(int(span_ms * fraction), DAY_MS)


@dataclass(frozen=True)
class InfluenceChoice:
    score: Tensor  # [U] expected adoptions over the next horizon (NaN: not supported)
    shipped: str  # "model", the name of the baseline that won on validation, or "none"
    validation: dict[str, dict[str, float]]  # method -> figures on the validation period
    # the model against the best baseline: difference of Spearman and its interval
    comparison: dict[str, Any] | None = None
    reason: str | None = None  # why the data cannot support influence (shipped "none")

    @property
    def supported(self) -> bool:
        return self.reason is None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "shipped": self.shipped,
            "supported": self.supported,
            "validation": self.validation,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        if self.comparison is not None:
            out["comparison"] = self.comparison
        return out


def not_supported(n_users: int, reason: str) -> InfluenceChoice:
    """Influence null for every user, with the reason the data cannot support it."""
    return InfluenceChoice(torch.full((n_users,), float("nan")), "none", {}, reason=reason)


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
    graph: GraphAsOf,
    *,
    at: int,
    horizon_ms: int,
    window_ms: int,
    seed: int = 0,
    periods: int = 3,
    device: torch.device | str = "cpu",
) -> InfluenceChoice:
    """The influence score to ship at ``at``. The validation is the mean over up to
    ``periods`` earlier horizons (one period is noisy where few users carry the signal); where
    the data is too short for any (less than two horizons of actions), the model ships and
    says it was not validated."""
    actions, follow_src, follow_dst = graph.actions, graph.follow_src, graph.follow_dst
    n_users, adopted = graph.n_users, graph.adoptions()
    if follow_src.numel() == 0:
        return not_supported(n_users, "no follows: nobody can influence anybody here")
    earliest = int(actions.ts.min()) if actions.ts.numel() else at
    periods_run = [
        influence_scores(
            GraphAsOf(actions.before(at - (j - 1) * horizon_ms), follow_src, follow_dst, n_users),
            split_ts=at - j * horizon_ms,
            horizon_ms=horizon_ms,
            window_ms=window_ms,
            seed=seed,
            device=device,
        )
        for j in range(1, periods + 1)
        if at - (j + 1) * horizon_ms > earliest
    ]
    if not periods_run:  # under two horizons of data: nothing to validate on
        return _model_choice(
            graph, at, horizon_ms, seed, device,
            validation={}, shipped=f"{MODEL} (not validated: under two horizons of data)",
        )  # fmt: skip
    tables = [
        {
            name: {
                "spearman": spearman(value, future),
                f"precision@{PRECISION_K}": precision_at_k(value, future, PRECISION_K),
                "users_with_future": float((future > 0).sum()),
            }
            for name, value in methods.items()
        }
        for methods, future in periods_run
    ]
    validation = {
        name: {key: sum(t[name][key] for t in tables) / len(tables) for key in tables[0][name]}
        for name in tables[0]
    }
    validation[MODEL]["periods"] = float(len(tables))
    if all(t[MODEL]["users_with_future"] == 0 for t in tables):
        return InfluenceChoice(
            torch.full((n_users,), float("nan")),
            "none",
            validation,
            reason="no adoption along any follow in the validation periods",
        )
    baseline = max((n for n in validation if n != MODEL), key=lambda n: validation[n]["spearman"])
    draws = [spearman_draws(methods, future, seed=seed) for methods, future in periods_run]
    difference = sum(d[MODEL] - d[baseline] for d in draws) / len(draws)
    low, high = interval(difference)
    comparison = {
        "baseline": baseline,
        "difference": validation[MODEL]["spearman"] - validation[baseline]["spearman"],
        "low": low,
        "high": high,
        "verdict": "beats" if low > 0 else "loses to" if high < 0 else "ties with",
    }
    if low > 0:
        return _model_choice(
            graph, at, horizon_ms, seed, device,
            validation=validation, shipped=MODEL, comparison=comparison,
        )  # fmt: skip
    # a tie or a loss: the simpler method ships
    raw = baseline_scores(adopted, follow_src, follow_dst, n_users, at=at)[baseline]
    score = on_count_scale(raw, influence_counts(adopted, n_users, at - horizon_ms, at))
    return InfluenceChoice(score, baseline, validation, comparison)


def _model_choice(
    graph: GraphAsOf,
    at: int,
    horizon_ms: int,
    seed: int,
    device: torch.device | str,
    *,
    validation: dict[str, dict[str, float]],
    shipped: str,
    comparison: dict[str, Any] | None = None,
) -> InfluenceChoice:
    score = predict_influence(graph, at=at, horizon_ms=horizon_ms, seed=seed, device=device)
    return InfluenceChoice(score, shipped, validation, comparison)
