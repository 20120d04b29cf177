"""Churn probability beside its baselines, at several cuts: does the graph add anything?

At each cut ``t`` the users active in ``(t - H, t]`` are scored and compared with what they
did in ``(t, t + H]``. Methods (every learnt one trained on the period before ``t``):

- ``recency``: a logistic model on recency alone;
- ``bgnbd``: BG/NBD's probability of no activity over the horizon, as it comes;
- ``behaviour``: the churn model without any graph feature;
- ``behaviour+graph``: the churn model with them (follow-graph shares and the followees'
  behaviour propagated one and two hops);
- ``shipped``: what profiles use: behaviour+graph or behaviour alone, whichever validated
  better one horizon earlier.

AUC and Brier per cut, mean ± std over the cuts, with the users behind each figure; the
reliability curve of the shipped model pooled over the cuts.
"""

from __future__ import annotations

import statistics
from typing import Any

import torch
from torch import Tensor

from engine.dimensions.adoptions import Actions, adoptions
from engine.dimensions.churn import (
    BEHAVIOUR,
    FeatureTimeline,
    churned_after,
    fit_churn,
    predict_churn,
)
from engine.evaluation.fairness import Groups, members
from engine.evaluation.probability_metrics import auc, brier, calibration_error, reliability
from engine.graph_as_of import GraphAsOf

METHODS = (
    "recency",
    "bgnbd",
    "behaviour",
    "behaviour+graph",
    "behaviour+graph+embedding",
    "shipped",
)


def churn_cuts(actions: Actions, quantiles: tuple[float, ...], horizon_ms: int) -> list[int]:
    """Cuts at these quantiles of the action times that leave a whole horizon after them."""
    if actions.ts.numel() == 0:
        return []
    ordered = actions.ts.sort().values
    cuts = [int(ordered[int(q * (ordered.numel() - 1))]) for q in quantiles]
    return [c for c in cuts if c + horizon_ms <= int(ordered[-1])]


def _known_follows(
    follow_src: Tensor, follow_dst: Tensor, follow_ts: Tensor | None, at: int
) -> tuple[Tensor, Tensor]:
    """Follows known at ``at``: timed ones formed by then, and every untimed one."""
    if follow_ts is None:
        return follow_src, follow_dst
    keep = follow_ts <= at
    return follow_src[keep], follow_dst[keep]


def churn_predictions_at(
    graph: GraphAsOf,
    *,
    at: int,
    horizon_ms: int,
    window_ms: int,
    follow_ts: Tensor | None = None,
) -> tuple[dict[str, Tensor], Tensor, Tensor] | None:
    """Each method's churn scores at ``at`` from the actions and follows known then, the users
    at risk (active in the horizon before) and the known follows' sources; None where the
    model cannot be fitted. ``follow_ts``: each of ``graph``'s follows' time (negative:
    unknown, taken as always known); the adoptions are counted here, with ``window_ms``."""
    ts = None if follow_ts is None else torch.where(follow_ts < 0, at, follow_ts)
    src, dst = _known_follows(graph.follow_src, graph.follow_dst, ts, at)
    known = graph.actions.before(at)
    adopted = adoptions(known, src, dst, graph.n_users, window_ms=window_ms)
    as_of = GraphAsOf(known, src, dst, graph.n_users, adopted)
    timeline = FeatureTimeline(as_of, horizon_ms)
    common = {"at": at, "horizon_ms": horizon_ms, "timeline": timeline}
    full, now, model = predict_churn(as_of, social=True, **common)
    if model is None:
        return None
    embedded, _, _ = predict_churn(as_of, social=True, embedding=True, **common)
    shipped, _, _ = predict_churn(as_of, **common)
    alone, _, _ = predict_churn(as_of, social=False, **common)
    before = timeline.at(at - horizon_ms)
    recency_column = BEHAVIOUR.index("log_recency_days")
    recency_model = fit_churn(
        before.values[before.at_risk], timeline.outcomes(at - horizon_ms), [recency_column]
    )
    scores = {
        "recency": recency_model.predict(now.values),
        "bgnbd": now.values[:, BEHAVIOUR.index("bgnbd_p_quiet")],
        "behaviour": alone,
        "behaviour+graph": full,
        "behaviour+graph+embedding": embedded,
        "shipped": shipped,
    }
    return scores, now.at_risk, src


def evaluate_churn(
    graph: GraphAsOf,
    *,
    cuts: list[int],
    horizon_ms: int,
    window_ms: int,
    follow_ts: Tensor | None = None,
    planted: Tensor | None = None,
    groups: Groups | None = None,
) -> dict[str, Any]:
    """Churn at each of ``cuts`` (see the module docstring). ``follow_ts``: each of ``graph``'s
    follows' time (negative: unknown, taken as always known); ``planted``:
    each user's true churn time (ms, or a huge value for never), scored as a further truth;
    ``groups``: sensitive groups (``engine.evaluation.fairness``), scored one by one
    (``by_group``)."""
    rows: list[dict[str, Any]] = []
    pooled_p, pooled_y = [], []
    for at in cuts:
        predicted = churn_predictions_at(
            graph, at=at, horizon_ms=horizon_ms, window_ms=window_ms, follow_ts=follow_ts
        )
        if predicted is None:
            continue
        scores, risk, src = predicted
        shipped = scores["shipped"]
        truth = churned_after(graph.actions, graph.n_users, at, horizon_ms)[risk]
        row: dict[str, Any] = {
            "cut": at,
            "at_risk": int(risk.sum()),
            "churn_rate": float(truth.float().mean()),
            "with_followees": int((torch.bincount(src, minlength=graph.n_users)[risk] > 0).sum()),
        }
        for name, score in scores.items():
            row[name] = {"auc": auc(score[risk], truth), "brier": brier(score[risk], truth)}
            if planted is not None:
                planted_truth = planted[risk] <= at + horizon_ms
                row[name]["auc_planted"] = auc(score[risk], planted_truth)
        if groups:
            row["by_group"] = [
                _group_row(
                    attribute, label, mask[risk], truth, shipped[risk], scores["recency"][risk]
                )
                for attribute, label, mask in members(groups)
            ]
        rows.append(row)
        pooled_p.append(shipped[risk])
        pooled_y.append(truth)
    summary: dict[str, dict[str, float]] = {}
    for name in METHODS:
        for key in rows[0][name] if rows else ():
            summary.setdefault(name, {}).update(mean_std(key, [r[name][key] for r in rows]))
    if rows:  # the graph's contribution, cut by cut (positive AUC / negative Brier: it helps)
        for key in rows[0]["behaviour"]:
            gains = [r["behaviour+graph"][key] - r["behaviour"][key] for r in rows]
            summary.setdefault("graph_gain", {}).update(mean_std(key, gains))
            gains = [r["behaviour+graph+embedding"][key] - r["behaviour+graph"][key] for r in rows]
            summary.setdefault("embedding_gain", {}).update(mean_std(key, gains))
    if rows and "by_group" in rows[0]:
        summary["by_group"] = _group_summary([g for r in rows for g in r["by_group"]])
    curve = reliability(torch.cat(pooled_p), torch.cat(pooled_y)) if pooled_p else []
    return {
        "horizon_days": horizon_ms / 86_400_000,
        "rows": rows,
        "summary": summary,
        "reliability": curve,
        "calibration_error": calibration_error(curve),
    }


def _group_row(
    attribute: str, label: str, mask: Tensor, truth: Tensor, shipped: Tensor, recency: Tensor
) -> dict[str, Any]:
    """One group's churn figures at a cut (``mask``, ``truth`` and scores over the at-risk)."""
    n = int(mask.sum())
    return {
        "attribute": attribute,
        "group": label,
        "at_risk": n,
        "churn_rate": float(truth[mask].float().mean()) if n else float("nan"),
        "auc": auc(shipped[mask], truth[mask]),
        "recency_auc": auc(recency[mask], truth[mask]),
    }


def _group_summary(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (attribute, group): the cuts' mean and spread of each figure."""
    keys = sorted({(e["attribute"], e["group"]) for e in entries})
    out = []
    for attribute, group in keys:
        mine = [e for e in entries if (e["attribute"], e["group"]) == (attribute, group)]
        row: dict[str, Any] = {"attribute": attribute, "group": group}
        for figure in ("at_risk", "churn_rate", "auc", "recency_auc"):
            row.update(mean_std(figure, [float(e[figure]) for e in mine]))
        out.append(row)
    return out


def mean_std(key: str, values: list[float]) -> dict[str, float]:
    """Mean and spread over the cuts where the figure exists (AUC needs both classes)."""
    known = [v for v in values if v == v]
    if not known:
        return {key: float("nan"), key + "_std": float("nan")}
    return {key: statistics.fmean(known), key + "_std": statistics.pstdev(known)}
