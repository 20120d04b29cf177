"""How well influence scores foresee the adoptions that follow: the model beside past
adoptions, PageRank, ArticleRank and follower counts, by Spearman correlation and precision@k."""

from __future__ import annotations

import torch
from scipy.stats import spearmanr
from torch import Tensor

from engine.adoptions import Actions, Adoptions, adoptions, influence_counts
from engine.centrality import articlerank, follower_count, pagerank
from engine.influence import predict_influence


def precision_at_k(score: Tensor, truth: Tensor, k: int) -> float:
    k = min(k, score.numel())
    top = set(torch.topk(score.to(torch.float64), k).indices.tolist())
    best = set(torch.topk(truth.to(torch.float64), k).indices.tolist())
    return len(top & best) / max(k, 1)


def spearman(score: Tensor, truth: Tensor) -> float:
    """0 where either side is constant (no order to agree with)."""
    if score.numel() < 2 or bool((score == score[0]).all()) or bool((truth == truth[0]).all()):
        return 0.0
    value = spearmanr(score.numpy(), truth.numpy()).statistic
    return float(value) if value == value else 0.0


def baseline_scores(
    adopted: Adoptions, follow_src: Tensor, follow_dst: Tensor, n_users: int, *, at: int
) -> dict[str, Tensor]:
    """The influence baselines as known at ``at``: past adoptions, PageRank, ArticleRank and
    follower counts (``degree``)."""
    return {
        "past_adoptions": influence_counts(adopted, n_users, -(2**62), at),
        "pagerank": pagerank(follow_src, follow_dst, n_users),
        "articlerank": articlerank(follow_src, follow_dst, n_users),
        "degree": follower_count(follow_dst, n_users),
    }


def influence_scores(
    actions: Actions,
    follow_src: Tensor,
    follow_dst: Tensor,
    n_users: int,
    *,
    split_ts: int,
    horizon_ms: int,
    window_ms: int,
    seed: int = 0,
    known_follows: tuple[Tensor, Tensor] | None = None,
    device: torch.device | str = "cpu",
) -> tuple[dict[str, Tensor], Tensor]:
    """Each method's scores from what was known at ``split_ts`` (the model, past adoptions,
    PageRank, ArticleRank, follower counts) and the truth: the adoptions each user triggers in
    the ``horizon_ms`` after it. ``known_follows``: the follows known at the cut (default:
    all), which the model and the baselines see; the truth counts adoptions along every
    follow."""
    adopted = adoptions(actions, follow_src, follow_dst, n_users, window_ms=window_ms)
    known = actions.before(split_ts)
    src, dst = known_follows if known_follows is not None else (follow_src, follow_dst)
    # what the scores may see: adoptions along the follows known at the cut
    seen = (
        adopted
        if known_follows is None
        else adoptions(actions, src, dst, n_users, window_ms=window_ms)
    )
    score = predict_influence(
        known,
        src,
        dst,
        n_users,
        at=split_ts,
        horizon_ms=horizon_ms,
        adopted=seen,
        seed=seed,
        device=device,
    )
    future = influence_counts(adopted, n_users, split_ts, split_ts + horizon_ms)
    return {"model": score, **baseline_scores(seen, src, dst, n_users, at=split_ts)}, future


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
    known_follows: tuple[Tensor, Tensor] | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, dict[str, float]]:
    """Predict the ``horizon_ms`` after ``split_ts`` from what was known at ``split_ts``, and
    score the model beside past adoptions, PageRank, ArticleRank and follower counts
    (:func:`influence_scores`). Each row also gives the number of users who trigger adoptions
    after the cut (``users_with_future``)."""
    methods, future = influence_scores(
        actions,
        follow_src,
        follow_dst,
        n_users,
        split_ts=split_ts,
        horizon_ms=horizon_ms,
        window_ms=window_ms,
        seed=seed,
        known_follows=known_follows,
        device=device,
    )
    with_future = float((future > 0).sum())
    metrics: dict[str, dict[str, float]] = {}
    for name, value in methods.items():
        metrics[name] = {
            "spearman": spearman(value, future),
            f"precision@{k}": precision_at_k(value, future, k),
            "users_with_future": with_future,
        }
        if planted is not None:
            metrics[name]["spearman_planted"] = spearman(value, planted)
            metrics[name][f"precision@{k}_planted"] = precision_at_k(value, planted, k)
    return metrics


def spearman_draws(
    methods: dict[str, Tensor],
    future: Tensor,
    *,
    resamples: int = 200,
    max_users: int = 20_000,
    seed: int = 0,
) -> dict[str, Tensor]:
    """Each method's Spearman correlation with ``future`` on ``resamples`` bootstrap samples of
    the users (at most ``max_users`` drawn per sample), the same samples for every method: the
    paired draws a comparison of two methods reads."""
    n = future.numel()
    generator = torch.Generator().manual_seed(seed)
    samples = [
        torch.randint(0, n, (min(n, max_users),), generator=generator) for _ in range(resamples)
    ]
    return {
        name: torch.tensor([spearman(value[s], future[s]) for s in samples], dtype=torch.float64)
        for name, value in methods.items()
    }


def _scored(
    methods: dict[str, Tensor], future: Tensor, k: int, among: Tensor
) -> dict[str, dict[str, float]]:
    """Spearman and precision@k of each method on the users ``among`` (a boolean mask)."""
    return {
        name: {
            "spearman": spearman(value[among], future[among]),
            f"precision@{k}": precision_at_k(value[among], future[among], k),
        }
        for name, value in methods.items()
    }


def evaluate_influence_by_category(
    actions: Actions,
    follow_src: Tensor,
    follow_dst: Tensor,
    n_users: int,
    item_category: Tensor,
    names: list[str],
    *,
    split_ts: int,
    horizon_ms: int,
    window_ms: int,
    k: int = 20,
    categories: int = 5,
    seed: int = 0,
    known_follows: tuple[Tensor, Tensor] | None = None,
) -> dict[str, object]:
    """Influence within a category: who triggers the follower adoptions of *this category's*
    items after the cut. Scored among the users active in the category before the cut, for the
    ``categories`` categories with the most adoptions, beside the per-category version of each
    baseline (past adoptions, followers active in the category, PageRank and ArticleRank on the
    follow graph among them) and the global model's score; mean over the categories."""
    known = actions.before(split_ts)
    known_src, known_dst = known_follows if known_follows is not None else (follow_src, follow_dst)
    hits = item_category[known.item] > 0  # [A, K] which categories each past action is in
    # the categories with the most past in-category adoptions (counted on the whole graph)
    adopted_all = adoptions(actions, known_src, known_dst, n_users, window_ms=window_ms)
    past = adopted_all.ts <= split_ts
    weight = (item_category[adopted_all.item[past]] > 0).sum(0)
    order = torch.argsort(weight, descending=True)[:categories].tolist()
    global_score = predict_influence(
        known,
        known_src,
        known_dst,
        n_users,
        at=split_ts,
        horizon_ms=horizon_ms,
        adopted=adopted_all,
        seed=seed,
    )
    per_category: dict[str, dict[str, dict[str, float]]] = {}
    for c in order:
        if int(weight[c]) == 0:
            continue
        in_c = item_category[actions.item, c] > 0
        acts = Actions(actions.user[in_c], actions.item[in_c], actions.ts[in_c])
        adopted = adoptions(acts, follow_src, follow_dst, n_users, window_ms=window_ms)
        seen = adoptions(acts, known_src, known_dst, n_users, window_ms=window_ms)
        future = influence_counts(adopted, n_users, split_ts, split_ts + horizon_ms)
        active = torch.zeros(n_users, dtype=torch.bool)
        active[known.user[hits[:, c]]] = True
        inside = active[known_src] & active[known_dst]
        src, dst = known_src[inside], known_dst[inside]
        methods = {
            "model_global": global_score,
            "model_in_category": predict_influence(
                acts.before(split_ts),
                known_src,
                known_dst,
                n_users,
                at=split_ts,
                horizon_ms=horizon_ms,
                adopted=seen,
                seed=seed,
            ),
            "past_adoptions_in_category": influence_counts(seen, n_users, -(2**62), split_ts),
            "followers_in_category": follower_count(dst, n_users),
            "pagerank_in_category": pagerank(src, dst, n_users),
            "articlerank_in_category": articlerank(src, dst, n_users),
        }
        per_category[names[c]] = _scored(methods, future, k, active)
        per_category[names[c]]["_users"] = {
            "active": float(active.sum()),
            "with_future": float((future[active] > 0).sum()),
        }
    summary: dict[str, dict[str, float]] = {}
    for name in (
        "model_global",
        "model_in_category",
        "past_adoptions_in_category",
        "followers_in_category",
        "pagerank_in_category",
        "articlerank_in_category",
    ):
        rows = [scores[name] for scores in per_category.values()]
        if rows:
            summary[name] = {key: sum(r[key] for r in rows) / len(rows) for key in rows[0]}
    return {"k": k, "categories": per_category, "summary": summary}
