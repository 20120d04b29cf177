"""Everything an evaluation measures about one profile run, from its snapshot and its result.

Three questions, each beside its baselines: do the interests foresee what users tag next
(:mod:`engine.evaluation.interest_prediction`), does the influence score foresee who triggers
follower
adoptions (:mod:`engine.evaluation.influence_evaluation`), and - optionally, since it trains models
- how
well do the embeddings rank items (:mod:`engine.evaluation.item_ranking`)?
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from core.vocabulary import FOLLOWS, LISTENED, ORDERS
from engine.dimensions.adoptions import DAY_MS, DEFAULT_WINDOW_DAYS, Actions
from engine.dimensions.influence_choice import HORIZON_FRACTION, influence_horizon_ms
from engine.dimensions.interests import interest_inputs
from engine.dimensions.purchase_propensity import (
    behaviours_at,
    behaviours_from_log,
    evaluate_propensity,
    last_days,
    propensity_predictions_at,
)
from engine.dimensions.repeat_purchases import Occasions, occasions
from engine.evaluation.as_of import predicts_at_cut
from engine.evaluation.churn_evaluation import churn_cuts, churn_predictions_at, evaluate_churn
from engine.evaluation.fairness import sensitive_groups
from engine.evaluation.influence_evaluation import (
    category_influence_predictions,
    evaluate_influence,
    evaluate_influence_by_category,
    influence_predictions,
)
from engine.evaluation.interest_prediction import evaluate_interest_prediction, past_snapshot
from engine.evaluation.item_ranking import evaluate_item_ranking
from engine.evaluation.lookalikes import evaluate_lookalikes
from engine.evaluation.repeat_purchase_evaluation import (
    evaluate_repeat_purchases,
    repeat_purchase_predictions,
)
from engine.graph_as_of import GraphAsOf
from engine.interactions import interaction_pairs, social_ties, timed_actions
from engine.models.train import TrainConfig
from engine.snapshot import Snapshot


@dataclass(frozen=True)
class EvaluationConfig:
    split: float = 0.8  # time quantile separating past from future (look-alikes)
    # influence is asked as a refresh asks it: over the last horizon (this share of the span)
    influence_horizon_fraction: float = HORIZON_FRACTION
    interest_splits: tuple[float, ...] = (0.7, 0.8, 0.9)  # the cuts interests are scored at
    min_rating: float | None = None  # None: inferred from the data (rating_threshold)
    k: int = 10
    influence_k: int = 50
    influence_window_days: float = DEFAULT_WINDOW_DAYS
    item_ranking_seeds: tuple[int, ...] = ()  # none: skip item ranking (it trains models)
    item_ranking_relations: tuple[str, ...] = (LISTENED,)  # where present, else all
    churn_horizon_days: float = 91.0
    churn_quantiles: tuple[float, ...] = (0.6, 0.7, 0.8, 0.9)  # cuts churn is scored at
    value_calibration: float = 2 / 3  # share of the orders' time span the models are fitted on
    train: TrainConfig = field(default_factory=TrainConfig)


def data_warnings(snapshot: Snapshot) -> list[str]:
    """What a reader of the figures must know about the data: where the future may leak into
    the past, and where a baseline saturates."""
    warnings = []
    follows = snapshot.edges.get(FOLLOWS)
    if follows is not None and follows.src.numel():
        untimed = float((follows.ts < 0).float().mean())
        if untimed > 0:
            warnings.append(
                f"{untimed:.0%} of the follow edges carry no timestamp: they are taken as known "
                "before every cut, so friendships formed later may leak into the past"
            )
        followers = torch.bincount(follows.dst, minlength=snapshot.num_nodes("user"))
        top = int(followers.max())
        at_top = int((followers == top).sum())
        if top > 1 and at_top >= max(3, 0.005 * followers.numel()):
            warnings.append(
                f"{at_top} users have the maximum of {top} followers: follower counts look "
                "capped, so the degree baseline saturates"
            )
    untimed_actions = sum(
        int((e.ts < 0).sum())
        for (s, _, d), e in snapshot.edges.items()
        if s == "user" and d == "item"
    )
    if untimed_actions:
        warnings.append(
            f"{untimed_actions} interactions carry no timestamp: left out of every temporal "
            "evaluation (they would leak the future)"
        )
    return warnings


STAGES = (
    "interests",
    "look-alikes",
    "influence by category",
    "influence",
    "churn",
    "value",
    "purchase propensity",
    "item ranking",
)


def _follows_known_at(snapshot: Snapshot, cut: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The follows made up to ``cut`` (a follow without a time counts as known; warned)."""
    follows = snapshot.edges.get(FOLLOWS)
    if follows is None:
        empty = torch.empty(0, dtype=torch.long)
        return empty, empty
    keep = follows.ts <= cut
    return follows.src[keep], follows.dst[keep]


def _influence_question(
    snapshot: Snapshot, cut: int, config: EvaluationConfig, horizon_ms: int
) -> dict[str, Any]:
    """What influence is predicted from at ``cut``: the follows known then, the window."""
    return {
        "known_follows": _follows_known_at(snapshot, cut),
        "split_ts": cut,
        "horizon_ms": horizon_ms,
        "window_ms": int(config.influence_window_days * DAY_MS),
        "seed": config.train.seed,
    }


def _category_influence_question(
    snapshot: Snapshot, cut: int, config: EvaluationConfig, horizon_ms: int
) -> dict[str, Any]:
    """The same, and the item categories as known at the cut (tags given later would leak)."""
    inputs = interest_inputs(past_snapshot(snapshot, cut), min_rating=config.min_rating)
    return {
        **_influence_question(snapshot, cut, config, horizon_ms),
        "item_category": inputs.item_category,
        "names": inputs.categories,
    }


def _horizon_at(actions: Actions, cut: int, config: EvaluationConfig) -> int:
    """The leakage guard's horizon: the same share of the span known at the cut."""
    known = actions.ts[actions.ts <= cut]
    span = int(cut - known.min()) if known.numel() else 0
    return influence_horizon_ms(span, config.influence_horizon_fraction)


@predicts_at_cut("influence")
def _influence_at(snapshot: Snapshot, cut: int, config: EvaluationConfig) -> dict[str, Tensor]:
    actions = timed_actions(snapshot)
    question = _influence_question(snapshot, cut, config, _horizon_at(actions, cut, config))
    src, dst = question.pop("known_follows")
    known = GraphAsOf(actions, src, dst, snapshot.num_nodes("user"))
    return influence_predictions(known, **question)


@predicts_at_cut("influence_by_category")
def _influence_by_category_at(
    snapshot: Snapshot, cut: int, config: EvaluationConfig
) -> dict[str, Tensor]:
    actions = timed_actions(snapshot)
    question = _category_influence_question(
        snapshot, cut, config, _horizon_at(actions, cut, config)
    )
    src, dst = question.pop("known_follows")
    names = question.pop("names")
    known = GraphAsOf(actions, src, dst, snapshot.num_nodes("user"))
    predicted = category_influence_predictions(known, **question)
    out: dict[str, Tensor] = {}
    for c, (methods, active) in predicted.items():
        out[f"{names[c]}/active"] = active
        out.update({f"{names[c]}/{name}": score for name, score in methods.items()})
    return out


@predicts_at_cut("churn")
def _churn_at(snapshot: Snapshot, cut: int, config: EvaluationConfig) -> dict[str, Tensor]:
    follows = snapshot.edges.get(FOLLOWS)
    if follows is None:
        return {}
    predicted = churn_predictions_at(
        GraphAsOf(timed_actions(snapshot), follows.src, follows.dst, snapshot.num_nodes("user")),
        at=cut, horizon_ms=int(config.churn_horizon_days * DAY_MS),
        window_ms=int(config.influence_window_days * DAY_MS), follow_ts=follows.ts,
    )  # fmt: skip
    if predicted is None:
        return {}
    scores, at_risk, _ = predicted
    return {**scores, "at_risk": at_risk}


def evaluate_snapshot(
    snapshot: Snapshot,
    config: EvaluationConfig,
    *,
    embedding: torch.Tensor | None = None,
    on_stage: Callable[[str, int], None] | None = None,
    on_detail: Callable[[str, float], None] | None = None,
) -> dict[str, Any]:
    """``embedding``: the run's profile embedding per snapshot user, scored as look-alikes.
    ``on_stage(name, index)`` is called as each of :data:`STAGES` starts (progress);
    ``on_detail(text, fraction)`` within a long stage (item ranking: which model and seed, the
    epoch of how many, and the stage's fraction done)."""
    stage = on_stage or (lambda _name, _index: None)
    out: dict[str, Any] = {"warnings": data_warnings(snapshot)}
    groups = sensitive_groups(snapshot) or None  # only where the deployment enabled them
    actions = timed_actions(snapshot)
    ties = social_ties(snapshot)
    if actions.ts.numel():
        stage(STAGES[0], 0)
        out["interest_prediction"] = evaluate_interest_prediction(
            snapshot, splits=config.interest_splits, k=config.k, min_rating=config.min_rating
        )
        stage(STAGES[1], 1)
        out["lookalikes"] = evaluate_lookalikes(
            snapshot, split=config.split, k=config.k, embedding=embedding
        )
        # influence: the question a refresh asks (engine.dimensions.influence_choice), one horizon
        # back
        span = int(actions.ts.max() - actions.ts.min())
        horizon = influence_horizon_ms(span, config.influence_horizon_fraction)
        cut = int(actions.ts.max()) - horizon
        stage(STAGES[2], 2)
        social = GraphAsOf(actions, *ties, snapshot.num_nodes("user"))
        out["influence_by_category"] = evaluate_influence_by_category(
            social, **_category_influence_question(snapshot, cut, config, horizon)
        )
        stage(STAGES[3], 3)
        out["influence"] = evaluate_influence(
            social, k=config.influence_k, **_influence_question(snapshot, cut, config, horizon)
        )
        stage(STAGES[4], 4)
        horizon = int(config.churn_horizon_days * DAY_MS)
        follows = snapshot.edges.get(FOLLOWS)
        if follows is not None and (cuts := churn_cuts(actions, config.churn_quantiles, horizon)):
            out["churn"] = evaluate_churn(
                GraphAsOf(actions, follows.src, follows.dst, snapshot.num_nodes("user")),
                cuts=cuts,
                horizon_ms=horizon,
                window_ms=int(config.influence_window_days * DAY_MS),
                follow_ts=follows.ts,
                groups=groups,
            )
    stage(STAGES[5], 5)
    if (value := _value_holdout(snapshot, config)) is not None:
        out["value"] = value
    stage(STAGES[6], 6)
    behaviours = behaviours_from_log(snapshot)
    if behaviours is not None and int(behaviours.ts.max() - behaviours.ts.min()) > 5 * DAY_MS:
        # who buys (and what) on each of the last three days, from the days before
        out["propensity"] = evaluate_propensity(
            behaviours,
            last_days(behaviours, 3),
            k=config.k,
            known_at=lambda t: behaviours_at(snapshot, t) or behaviours,
        )
    if config.item_ranking_seeds:
        stage(STAGES[7], 7)
        present = {rel for _, rel, _ in snapshot.edges}
        # the published LastFM protocol ranks listened artists; other data: every interaction
        relations = [r for r in config.item_ranking_relations if r in present] or None
        pairs = interaction_pairs(snapshot, relations, min_rating=config.min_rating)
        seeds = list(config.item_ranking_seeds)
        models = ("lightgcn", "lightgcn+social")
        epochs = config.train.max_epochs

        def epoch_done(model: str, seed: int, record: dict[str, float]) -> None:
            if on_detail is None:
                return
            epoch = int(record["epoch"]) + 1
            done = (seeds.index(seed) * len(models) + models.index(model) + epoch / epochs) / (
                len(seeds) * len(models)
            )
            on_detail(f"{model}, split seed {seed}: epoch {epoch}/{epochs}", min(done, 1.0))

        report = evaluate_item_ranking(
            pairs,
            snapshot.num_nodes("user"),
            snapshot.num_nodes("item"),
            social=ties,
            seeds=seeds,
            config=replace(config.train, k=config.k),
            models=models,
            on_epoch=epoch_done,
            groups=groups,
        )
        out["item_ranking"] = {"rows": report.rows, "summary": report.summary()}
        if groups:
            out["item_ranking"]["by_group"] = report.group_summary()
    return out


def _order_occasions(snapshot: Snapshot, minimum: int = 50) -> Occasions | None:
    """The snapshot's timed orders as daily occasions (None under ``minimum`` of them)."""
    orders = snapshot.edges.get(ORDERS)
    if orders is None or int((orders.ts >= 0).sum()) < minimum:
        return None
    timed = orders.ts >= 0
    return occasions(orders.src[timed], orders.ts[timed], orders.weight[timed].clamp(min=0))


@predicts_at_cut("value")
def _value_at(snapshot: Snapshot, cut: int, config: EvaluationConfig) -> dict[str, Tensor]:
    o = _order_occasions(snapshot, minimum=1)
    if o is None:
        return {}
    return repeat_purchase_predictions(
        o,
        snapshot.num_nodes("user"),
        calibration_end_day=cut // DAY_MS - 1,  # the last whole day known at the cut
        holdout_days=int(config.churn_horizon_days),
        unit_days=7.0,
    )


@predicts_at_cut("propensity")
def _propensity_at(snapshot: Snapshot, cut: int, config: EvaluationConfig) -> dict[str, Tensor]:
    t = cut // DAY_MS * DAY_MS  # the day after the last whole day known at the cut
    known = behaviours_at(snapshot, t)
    if known is None or known.user.numel() == 0:
        return {}
    who, what, _ = propensity_predictions_at(known, t, config.k)
    return {**{f"who/{n}": s for n, s in who.items()}, **{f"what/{n}": s for n, s in what.items()}}


def _value_holdout(snapshot: Snapshot, config: EvaluationConfig) -> dict[str, Any] | None:
    """The repeat-purchase protocol on the snapshot's orders: fit on the first part of their
    time span, predict the rest (None without enough timed orders to split)."""
    o = _order_occasions(snapshot)
    if o is None:
        return None
    first, last = int(o.day.min()), int(o.day.max())
    end = first + int((last - first) * config.value_calibration)
    if end - first < 14 or last - end < 7:
        return None
    return evaluate_repeat_purchases(
        o,
        snapshot.num_nodes("user"),
        start_day=first,
        calibration_end_day=end,
        holdout_days=last - end,
    )
