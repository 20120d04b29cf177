"""Interest prediction, scored on the future: do the profile's interests foresee the
categories a user takes up next?

Temporal splits on the timestamped interactions: at each cut (a quantile of their times)
everything before is the past; the truth is the categories each user takes up afterwards - the
tags they assign where the data has timestamped tag assignments (LastFM), else the categories
of the items they interact with (e-commerce events). Only timestamped interactions before the
cut inform the predictions; interactions without a time (LastFM's play counts cover the whole
period) are left out, since they would leak the future. The profile's model is fitted on the
past alone (an inner temporal split of it). Methods, each ranking all categories per user
(Recall@k, NDCG@k), every baseline in its strong form (ties and unseen categories ranked by
popularity):

- ``popularity``: the categories most taken up before the cut, the same for everyone;
- ``own_history``: the user's own past evidence, backed off to popularity;
- ``friends_average``: the mean interests of the people the user follows, backed off;
- ``profile``: the fitted smoothing of own evidence, friends and popularity
  (:func:`engine.dimensions.interests.interest_scores`).

Cold users (fewer than ``cold_threshold`` categorised past interactions) are reported
separately: they are where the social neighbourhood should matter.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from core.vocabulary import FOLLOWS, IN_CATEGORY, RATINGS, TAGGED, TAGS
from engine.dimensions.interests import (
    InterestInputs,
    InterestModel,
    backoff,
    fit_interest_model,
    interest_inputs,
    interest_scores,
    normalise,
    own_interests,
    popularity,
    social_interests,
)
from engine.evaluation.as_of import predicts_at_cut
from engine.evaluation.metrics import rank_metrics, user_rank_metrics
from engine.evaluation.significance import paired_bootstrap
from engine.interactions import unique_pairs
from engine.snapshot import ActionLog, EdgeSet, Snapshot

if TYPE_CHECKING:
    from engine.evaluation.snapshot_evaluation import EvaluationConfig


def _events_after(
    edges: EdgeSet, cut: int, log: ActionLog | None, rel: str, shape: tuple[int, int]
) -> tuple[Tensor, Tensor]:
    """Per edge: how many of its events came after ``cut``, and the time of its last event by
    then (-1: none). An edge first touched after the cut is all future; one last touched by
    then, all past. One touched on both sides is split by the action log: the log keeps an
    edge's latest times, so once it holds one time at or before the cut every event after it
    is there too. Where it holds none (more events after the cut than it keeps, or no log),
    only the first event is known to be past. ``shape``: (items, categories), for the keys."""
    first, ts, count = edges.first, edges.ts, edges.count
    after = torch.where(first > cut, count, torch.zeros_like(count))
    last = torch.where(first > cut, torch.full_like(ts, -1), ts)
    straddles = (first <= cut) & (ts > cut)
    if not bool(straddles.any()):
        return after, last
    after = torch.where(straddles, count - 1, after)  # what is known without a log
    last = torch.where(straddles, first, last)
    if log is None or rel not in log.kinds or not len(edges):
        return after, last
    n_items, n_categories = shape
    rows = log.kind == log.kinds.index(rel)

    def key(user: Tensor, item: Tensor, category: Tensor | None) -> Tensor:
        k = user * n_items + item
        return k if category is None else k * (n_categories + 1) + category + 1

    tagged = edges.category is not None
    edge_key = key(edges.src, edges.dst, edges.category if tagged else None)
    log_key = key(log.user[rows], log.item[rows], log.category[rows] if tagged else None)
    order = torch.argsort(edge_key)
    at = torch.searchsorted(edge_key[order], log_key).clamp_max(edge_key.numel() - 1)
    found = edge_key[order][at] == log_key
    edge, when = order[at[found]], log.ts[rows][found]
    logged_after = torch.zeros_like(count).index_add_(0, edge, (when > cut).to(count.dtype))
    mine = (when >= 0) & (when <= cut)
    logged_last = torch.full_like(ts, -1).scatter_reduce_(0, edge[mine], when[mine], "amax")
    exact = straddles & (logged_last >= 0)
    return torch.where(exact, logged_after, after), torch.where(exact, logged_last, last)


def _before(
    edges: EdgeSet,
    cut: int,
    *,
    rating: bool = False,
    log: ActionLog | None = None,
    rel: str = "",
    shape: tuple[int, int] = (0, 0),
) -> EdgeSet:
    """The edges as they stood at ``cut``: those first touched by then, with the events by
    then (:func:`_events_after`): their count, their weight in proportion, their last time.
    A rating is replaced, not summed: one given again after the cut holds only the later
    value, so it is left out (its value at the cut is not known)."""
    first = edges.first
    keep = (first >= 0) & (first <= cut)
    if rating:
        keep &= edges.ts <= cut
    part = edges.select(keep)
    after, last = _events_after(part, cut, log, rel, shape)
    if bool((after > 0).any()):
        past = part.count - after
        part.weight = part.weight * past / part.count.clamp_min(1)
        part.count = past
        part.ts = last
    return part


def time_cut(ts: Tensor, quantile: float) -> int:
    """The ``quantile`` of the times (kthvalue: ``torch.quantile`` refuses > 16M values)."""
    return int(torch.kthvalue(ts, max(1, min(ts.numel(), round(quantile * ts.numel())))).values)


def _known_by(edges: EdgeSet, cut: int) -> EdgeSet:
    """Follows made up to ``cut``; a follow without a time is kept (the report warns)."""
    return edges.select(edges.ts <= cut)  # ts -1: unknown


def _categories_at(snapshot: Snapshot, cut: int) -> EdgeSet | None:
    """Item categories as known at ``cut``. A tag given to an item adds one to the item's
    weight in that category (cypher/ingest_tag_categories), so the tags given after the cut are
    taken off again; a category no tag had given the item by then is gone."""
    links = snapshot.edges.get(IN_CATEGORY)
    tags = snapshot.edges.get(TAGS)
    if links is None or tags is None or tags.category is None or not len(links):
        return links
    # tag events after the cut on each (item, category)
    n_cat = snapshot.num_nodes("category")
    shape = (snapshot.num_nodes("item"), n_cat)
    late, _ = _events_after(tags, cut, snapshot.actions, TAGGED, shape)
    key = links.src * n_cat + links.dst
    order = torch.argsort(key)
    tag_key = tags.dst * n_cat + tags.category
    at = torch.searchsorted(key[order], tag_key).clamp_max(key.numel() - 1)
    found = key[order][at] == tag_key
    taken = torch.zeros(key.numel(), dtype=links.weight.dtype)
    taken.index_add_(0, order[at[found]], late[found].to(links.weight.dtype))
    part = links.select(torch.ones(key.numel(), dtype=torch.bool))
    part.weight = links.weight - taken
    return part.select(part.weight > 0)


def past_snapshot(snapshot: Snapshot, cut: int) -> Snapshot:
    """The snapshot as known at ``cut``: user-item interactions first made by then (as they
    stood then), the follows made by then (where follows carry times), the item categories the
    tags given by then imply, and the action log up to the cut."""
    log = snapshot.actions
    shape = (snapshot.num_nodes("item"), snapshot.num_nodes("category"))
    edges = {
        key: _before(e, cut, rating=key[1] in RATINGS, log=log, rel=key[1], shape=shape)
        if key[0] == "user" and key[2] == "item"
        else _known_by(e, cut)
        if key == FOLLOWS
        else e
        for key, e in snapshot.edges.items()
    }
    categories = _categories_at(snapshot, cut)
    if categories is not None:
        edges[IN_CATEGORY] = categories
    past_log = None if log is None else log.select((log.ts >= 0) & (log.ts <= cut))
    return replace(snapshot, edges=edges, actions=past_log)


def _future_categories(
    snapshot: Snapshot, inputs: InterestInputs, timed: dict[Any, EdgeSet], cut: int
) -> Tensor:
    """Distinct (user, category column) pairs taken up after ``cut``: [2, T]."""
    tags = timed.get(TAGS)
    if tags is not None and tags.category is not None:
        column = {name: i for i, name in enumerate(inputs.categories)}
        names = snapshot.node_ids["category"]
        to_column = torch.tensor([column.get(name, -1) for name in names], dtype=torch.long)
        future = tags.first > cut  # tags first given after the cut
        users, cols = tags.src[future], to_column[tags.category[future]]
    else:
        parts = [(e.src[e.first > cut], e.dst[e.first > cut]) for e in timed.values()]
        user = torch.cat([u for u, _ in parts])
        item = torch.cat([i for _, i in parts])
        hit = torch.nonzero(inputs.item_category[item] > 0)
        users, cols = user[hit[:, 0]], hit[:, 1]
    keep = cols >= 0
    return unique_pairs(users[keep], cols[keep])


def _scores(inputs: InterestInputs, model: InterestModel) -> dict[str, Tensor]:
    own = own_interests(inputs)
    pop = popularity(own)
    return {
        "popularity": pop.expand(inputs.num_users, -1),
        "own_history": backoff(own, own),
        "friends_average": backoff(social_interests(normalise(own), inputs), own),
        "profile": interest_scores(
            own_interests(inputs, half_life_days=model.half_life_days, intent=model.intent),
            inputs,
            model,
        ),
    }


def _timed(snapshot: Snapshot) -> dict[Any, EdgeSet]:
    return {
        key: e
        for key, e in snapshot.edges.items()
        if key[0] == "user" and key[2] == "item" and bool((e.ts >= 0).any())
    }


def split_cut(snapshot: Snapshot, split: float) -> int | None:
    """The cut at the ``split`` quantile of the timestamped interactions' times (None: none)."""
    timed = _timed(snapshot)
    if not timed:
        return None
    return time_cut(torch.cat([e.ts[e.ts >= 0] for e in timed.values()]), split)


def temporal_split(
    snapshot: Snapshot, split: float, *, max_categories: int = 256, min_rating: float | None = None
) -> tuple[InterestInputs, Tensor, int] | None:
    """(inputs from before the cut, [2, T] (user, category column) taken up after it, cut);
    None when the data has no timestamped interactions."""
    cut = split_cut(snapshot, split)
    if cut is None:
        return None
    inputs = interest_inputs(past_snapshot(snapshot, cut), max_categories, min_rating=min_rating)
    return inputs, _future_categories(snapshot, inputs, _timed(snapshot), cut), cut


def interest_predictions_at(
    snapshot: Snapshot,
    cut: int,
    *,
    k: int = 10,
    max_categories: int = 256,
    min_rating: float | None = None,
) -> tuple[InterestInputs, dict[str, Tensor], dict[str, Any]]:
    """Each method's scores at ``cut`` from the past alone (the model fitted on an inner split
    of it), with the inputs they read and the fitted model's description."""
    past = past_snapshot(snapshot, cut)
    inputs = interest_inputs(past, max_categories, min_rating=min_rating)
    model, fitted = fit_on_past(past, k=k, max_categories=max_categories, min_rating=min_rating)
    return inputs, _scores(inputs, model), fitted


@predicts_at_cut("interests")
def _interests_at(snapshot: Snapshot, cut: int, config: EvaluationConfig) -> dict[str, Tensor]:
    return interest_predictions_at(snapshot, cut, k=config.k, min_rating=config.min_rating)[1]


def fit_on_past(
    snapshot: Snapshot, *, split: float = 0.8, k: int = 10, **inputs: Any
) -> tuple[InterestModel, dict[str, Any]]:
    """The interest model fitted on a temporal validation split of ``snapshot``: what was
    taken up after the ``split`` quantile, predicted from what came before. Without
    timestamps the default model, and the report says so."""
    parts = temporal_split(snapshot, split, **inputs)
    if parts is None or parts[1].size(1) == 0:
        return InterestModel(), {"fitted": False, "reason": "no timestamped interactions"}
    model, info = fit_interest_model(parts[0], parts[1], k=k)
    return model, {"fitted": True, **model.describe(), **info}


def evaluate_interest_prediction(
    snapshot: Snapshot,
    *,
    splits: tuple[float, ...] = (0.7, 0.8, 0.9),
    k: int = 10,
    max_categories: int = 256,
    min_rating: float | None = None,
    cold_threshold: int = 3,
) -> dict[str, Any]:
    """Per cut and summarised over cuts (mean, std): metrics per method, for all users with
    future categories and for the cold ones among them; the model fitted at each cut."""
    options = {"max_categories": max_categories, "min_rating": min_rating}
    timed = _timed(snapshot)
    if not timed:
        raise ValueError("interest prediction needs timestamped user-item interactions")
    truth = "tags" if TAGS in timed and timed[TAGS].category is not None else "item categories"
    cuts = []
    per_user: dict[str, list[Tensor]] = {}  # each method's Recall@k per (cut, user), paired
    for split in splits:
        cut = split_cut(snapshot, split)
        assert cut is not None
        # the model sees the past only: fitted on an inner split of it
        inputs, scores, fitted = interest_predictions_at(snapshot, cut, k=k, **options)
        target = _future_categories(snapshot, inputs, timed, cut)
        evidence = torch.bincount(inputs.user, minlength=inputs.num_users)
        cold = evidence < cold_threshold
        identity = torch.eye(len(inputs.categories))
        methods: dict[str, dict[str, float]] = {}
        for method, score in scores.items():
            _, recall, _ = user_rank_metrics(score, identity, target, [], k=k)
            per_user.setdefault(method, []).append(recall)
            overall = rank_metrics(score, identity, target, [], k=k)
            of_cold = rank_metrics(score, identity, target[:, cold[target[0]]], [], k=k)
            methods[method] = {
                f"recall@{k}": overall[f"recall@{k}"],
                f"ndcg@{k}": overall[f"ndcg@{k}"],
                f"cold_recall@{k}": of_cold[f"recall@{k}"],
                f"cold_ndcg@{k}": of_cold[f"ndcg@{k}"],
                "users": overall["users"],
                "cold_users": of_cold["users"],
            }
        cuts.append({"split": split, "cut": cut, "model": fitted, "methods": methods})
    summary = _summary(cuts)
    return {
        "truth": truth,
        "k": k,
        "cuts": cuts,
        "summary": summary,
        "comparison": compare_with_best_baseline(summary, per_user, f"recall@{k}"),
    }


def compare_with_best_baseline(
    summary: dict[str, dict[str, float]], per_user: dict[str, list[Tensor]], key: str
) -> dict[str, Any]:
    """The profile against the baseline with the best mean ``key``, paired over every (cut,
    user) both were scored on: the difference, its interval and the verdict (``beats`` only
    when the interval lies above zero). Where it does not beat it, the baseline is the simpler
    method and the one to ship."""
    best = max((name for name in summary if name != "profile"), key=lambda n: summary[n][key])
    comparison = paired_bootstrap(torch.cat(per_user["profile"]), torch.cat(per_user[best]))
    return {
        "baseline": best,
        "metric": key,
        **comparison.describe(),
        "ships": "profile" if comparison.verdict == "beats" else best,
    }


def _summary(cuts: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation over the cuts of every metric of every method."""
    summary: dict[str, dict[str, float]] = {}
    for method in cuts[0]["methods"]:
        rows = [c["methods"][method] for c in cuts]
        summary[method] = {}
        for key in rows[0]:
            values = torch.tensor([r[key] for r in rows], dtype=torch.float64)
            summary[method][key] = float(values.mean())
            summary[method][f"{key}_std"] = float(values.std()) if len(rows) > 1 else 0.0
    return summary
