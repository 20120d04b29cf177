"""How well influence scores foresee the adoptions that follow: the model beside past
adoptions, PageRank, ArticleRank and follower counts, by Spearman correlation and precision@k."""

from __future__ import annotations

import torch
from scipy.stats import spearmanr
from torch import Tensor

from engine.dimensions.adoptions import Actions, Adoptions, adoptions, influence_counts
from engine.graph_as_of import GraphAsOf
from engine.models.centrality import articlerank, follower_count, pagerank
from engine.models.influence import predict_influence


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
    graph: GraphAsOf,
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
    all of ``graph``'s), which the model and the baselines see; the truth counts adoptions
    along every follow (the adoptions are counted here, with ``window_ms``)."""
    known = graph if known_follows is None else graph.with_follows(*known_follows)
    methods = influence_predictions(
        known, split_ts=split_ts, horizon_ms=horizon_ms, window_ms=window_ms, seed=seed,
        device=device,
    )  # fmt: skip
    adopted = adoptions(
        graph.actions, graph.follow_src, graph.follow_dst, graph.n_users, window_ms=window_ms
    )
    return methods, influence_counts(adopted, graph.n_users, split_ts, split_ts + horizon_ms)


def influence_predictions(
    known: GraphAsOf,
    *,
    split_ts: int,
    horizon_ms: int,
    window_ms: int,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> dict[str, Tensor]:
    """Each method's scores at ``split_ts`` from the actions up to it and ``known``'s follows
    (those known then): the model, past adoptions, PageRank, ArticleRank, follower counts."""
    src, dst, n_users = known.follow_src, known.follow_dst, known.n_users
    past = known.actions.before(split_ts)
    seen = adoptions(past, src, dst, n_users, window_ms=window_ms)
    score = predict_influence(
        GraphAsOf(past, src, dst, n_users, seen),
        at=split_ts,
        horizon_ms=horizon_ms,
        seed=seed,
        device=device,
    )
    return {"model": score, **baseline_scores(seen, src, dst, n_users, at=split_ts)}


def evaluate_influence(
    graph: GraphAsOf,
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
        graph,
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


def category_influence_predictions(
    known: GraphAsOf,
    item_category: Tensor,
    *,
    split_ts: int,
    horizon_ms: int,
    window_ms: int,
    categories: int = 5,
    seed: int = 0,
) -> dict[int, tuple[dict[str, Tensor], Tensor]]:
    """For the ``categories`` categories with the most in-category adoptions up to
    ``split_ts``: each method's scores then and the users active in the category by then,
    from the actions up to it, ``known``'s follows (those known then) and ``item_category``
    (as known then)."""
    follow_src, follow_dst, n_users = known.follow_src, known.follow_dst, known.n_users
    earlier = known.actions.before(split_ts)
    hits = item_category[earlier.item] > 0  # [A, K] which categories each past action is in
    seen_all = adoptions(earlier, follow_src, follow_dst, n_users, window_ms=window_ms)
    weight = (item_category[seen_all.item] > 0).sum(0)
    order = torch.argsort(weight, descending=True)[:categories].tolist()
    global_score = predict_influence(
        GraphAsOf(earlier, follow_src, follow_dst, n_users, seen_all),
        at=split_ts,
        horizon_ms=horizon_ms,
        seed=seed,
    )
    out: dict[int, tuple[dict[str, Tensor], Tensor]] = {}
    for c in order:
        if int(weight[c]) == 0:
            continue
        in_c = item_category[earlier.item, c] > 0
        acts = Actions(earlier.user[in_c], earlier.item[in_c], earlier.ts[in_c])
        seen = adoptions(acts, follow_src, follow_dst, n_users, window_ms=window_ms)
        active = torch.zeros(n_users, dtype=torch.bool)
        active[earlier.user[hits[:, c]]] = True
        inside = active[follow_src] & active[follow_dst]
        src, dst = follow_src[inside], follow_dst[inside]
        methods = {
            "model_global": global_score,
            "model_in_category": predict_influence(
                GraphAsOf(acts, follow_src, follow_dst, n_users, seen),
                at=split_ts,
                horizon_ms=horizon_ms,
                seed=seed,
            ),
            "past_adoptions_in_category": (
                past := influence_counts(seen, n_users, -(2**62), split_ts)
            ),
            # what top_influencers_in_category.cypher ranks by: past in-category adoptions,
            # then the global score (a rank in [0, 1) breaks the ties)
            "query_ranking": past.double()
            + torch.argsort(torch.argsort(global_score)).double() / (n_users + 1),
            "followers_in_category": follower_count(dst, n_users),
            "pagerank_in_category": pagerank(src, dst, n_users),
            "articlerank_in_category": articlerank(src, dst, n_users),
        }
        out[c] = (methods, active)
    return out


def evaluate_influence_by_category(
    graph: GraphAsOf,
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
    known = graph if known_follows is None else graph.with_follows(*known_follows)
    predicted = category_influence_predictions(
        known, item_category, split_ts=split_ts, horizon_ms=horizon_ms, window_ms=window_ms,
        categories=categories, seed=seed,
    )  # fmt: skip
    actions, n_users = graph.actions, graph.n_users
    per_category: dict[str, dict[str, dict[str, float]]] = {}
    for c, (methods, active) in predicted.items():
        in_c = item_category[actions.item, c] > 0
        acts = Actions(actions.user[in_c], actions.item[in_c], actions.ts[in_c])
        adopted = adoptions(acts, graph.follow_src, graph.follow_dst, n_users, window_ms=window_ms)
        future = influence_counts(adopted, n_users, split_ts, split_ts + horizon_ms)
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
        "query_ranking",
        "followers_in_category",
        "pagerank_in_category",
        "articlerank_in_category",
    ):
        rows = [scores[name] for scores in per_category.values()]
        if rows:
            summary[name] = {key: sum(r[key] for r in rows) / len(rows) for key in rows[0]}
    return {"k": k, "categories": per_category, "summary": summary}
