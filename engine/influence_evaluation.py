"""How well influence scores foresee the adoptions that follow: the model beside past
adoptions, PageRank, ArticleRank and follower counts, by Spearman correlation and precision@k."""

from __future__ import annotations

import torch
from scipy.stats import spearmanr
from torch import Tensor

from engine.adoptions import Actions, adoptions, influence_counts
from engine.centrality import articlerank, follower_count, pagerank
from engine.influence import predict_influence


def precision_at_k(score: Tensor, truth: Tensor, k: int) -> float:
    k = min(k, score.numel())
    top = set(torch.topk(score.to(torch.float64), k).indices.tolist())
    best = set(torch.topk(truth.to(torch.float64), k).indices.tolist())
    return len(top & best) / max(k, 1)


def spearman(score: Tensor, truth: Tensor) -> float:
    value = spearmanr(score.numpy(), truth.numpy()).statistic
    return float(value) if value == value else 0.0  # nan when one side is constant


def evaluate_influence(
    actions: Actions,
    follow_src: Tensor,
    follow_dst: Tensor,
    n_users: int,
    *,
    split_ts: int,
    horizon_ms: int,
    window_ms: int,
    k: int = 50,
    planted: Tensor | None = None,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Predict the ``horizon_ms`` after ``split_ts`` from what was known at ``split_ts``, and
    score the model beside past adoptions, PageRank, ArticleRank and follower counts."""
    adopted = adoptions(actions, follow_src, follow_dst, n_users, window_ms=window_ms)
    known = actions.before(split_ts)
    score = predict_influence(
        known,
        follow_src,
        follow_dst,
        n_users,
        at=split_ts,
        horizon_ms=horizon_ms,
        adopted=adopted,
        seed=seed,
    )
    future = influence_counts(adopted, n_users, split_ts, split_ts + horizon_ms)
    methods = {
        "model": score,
        "past_adoptions": influence_counts(adopted, n_users, -(2**62), split_ts),
        "pagerank": pagerank(follow_src, follow_dst, n_users),
        "articlerank": articlerank(follow_src, follow_dst, n_users),
        "degree": follower_count(follow_dst, n_users),
    }
    metrics: dict[str, dict[str, float]] = {}
    for name, value in methods.items():
        metrics[name] = {
            "spearman": spearman(value, future),
            f"precision@{k}": precision_at_k(value, future, k),
        }
        if planted is not None:
            metrics[name]["spearman_planted"] = spearman(value, planted)
            metrics[name][f"precision@{k}_planted"] = precision_at_k(value, planted, k)
    return metrics
