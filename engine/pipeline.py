"""Snapshot in, profiles out: the whole computation a refresh runs, in one place.

A **full** run trains the embedding model (early-stopped on a 10% validation slice of each
user's items), predicts influence, fits segments and profiles every user; it returns a
:class:`ModelState` (embeddings, influence, segments, keyed by external id) that the next
**incremental** runs start from. An incremental run sees only the changed users and their
neighbourhood: it fine-tunes the known embeddings for a few epochs on that subgraph, keeps the
full run's influence scale and segments, and profiles only the changed ("seed") users.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from core.profile_contract import COLUMNS
from engine.device import pick_device
from engine.dimensions.adoptions import DAY_MS, DEFAULT_WINDOW_DAYS, Actions, Adoptions, adoptions
from engine.dimensions.customer_profile import CustomerConfig, customer_columns
from engine.dimensions.influence_choice import (
    HORIZON_FRACTION,
    InfluenceChoice,
    choose_influence,
    influence_horizon_ms,
    not_supported,
)
from engine.dimensions.interest_evidence import InterestEvidence
from engine.dimensions.interests import InterestModel, interest_inputs, population_shares
from engine.dimensions.next_steps import NextConfig, NextModel, fit_next, next_columns
from engine.dimensions.profile import (
    ProfileConfig,
    Profiles,
    Segments,
    build_profiles,
    competition_rank,
)
from engine.dimensions.recommendation_lists import RecommendationLists
from engine.dimensions.review_profile import review_columns, review_summary
from engine.evaluation.data_support import run_support
from engine.evaluation.interest_prediction import fit_on_past
from engine.evaluation.split import split_per_user
from engine.graph_as_of import GraphAsOf
from engine.interactions import (
    interaction_pairs,
    last_action_times,
    rating_threshold,
    social_ties,
    timed_actions,
)
from engine.memory import release_freed_memory
from engine.models.distributed import fit_lightgcn
from engine.models.train import TrainConfig
from engine.models.warm_start import initial_embedding, known_rows
from engine.snapshot import Snapshot

STATE_VERSION = 2  # 2: the fitted interest model; 1 loads with the default one


@dataclass(frozen=True)
class PipelineConfig:
    train: TrainConfig = field(default_factory=TrainConfig)  # a refresh's: jobs.recipe
    profile: ProfileConfig = field(default_factory=ProfileConfig)
    finetune_epochs: int = 5
    max_categories: int = 256
    influence_window_days: float = DEFAULT_WINDOW_DAYS
    influence_horizon_fraction: float = HORIZON_FRACTION  # of the data's time span
    # a rating below this (on the data's scale) is not an interest; None: the middle of the
    # ratings seen (engine.dimensions.interests.rating_threshold)
    min_rating: float | None = None
    customer: CustomerConfig = field(default_factory=CustomerConfig)
    next: NextConfig = field(default_factory=NextConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ModelState:
    """What an incremental refresh needs from the last full run (saved with torch.save)."""

    user_ids: list[str]
    item_ids: list[str]
    embedding: Tensor  # [U + I, F] layer-0 (trainable) embeddings
    influence: Tensor  # [U]
    segments: Segments
    run_id: str
    interest_model: InterestModel = field(default_factory=InterestModel)
    customer_fit: dict[str, Any] = field(default_factory=dict)  # CustomerColumns.fit
    next_model: NextModel | None = None  # the sequence model and the exploration shown
    # the population's category shares: the interests' prior in incremental runs
    population: dict[str, float] = field(default_factory=dict)
    # the rating below which a rating is no interest, as the full run resolved it on the whole
    # population (a neighbourhood's own ratings would give another middle)
    min_rating: float | None = None

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "version": STATE_VERSION,
            "user_ids": self.user_ids,
            "item_ids": self.item_ids,
            "embedding": self.embedding,
            "influence": self.influence,
            "centres": self.segments.centres,
            "labels": {str(k): v for k, v in self.segments.labels.items()},
            "summary": self.segments.summary,
            "segment_categories": self.segments.categories,
            "segment_quality": json.dumps(self.segments.quality),
            "segment_basis": self.segments.basis,
            "run_id": self.run_id,
            "interest_model": self.interest_model.describe(),
            "customer_fit": json.dumps(self.customer_fit),
            "next_model": None if self.next_model is None else self.next_model.to_dict(),
            "min_rating": self.min_rating,
            "population": json.dumps(self.population),
        }
        tmp = path.with_suffix(".tmp")
        torch.save(payload, tmp)
        tmp.replace(path)  # readers never see half a file
        return path

    @classmethod
    def load(cls, path: Path) -> ModelState:
        data = torch.load(path, weights_only=True)
        if data.get("version") not in (1, STATE_VERSION):
            raise ValueError(f"model state {path}: version {data.get('version')!r} unsupported")
        segments = Segments(
            data["centres"],
            {int(k): v for k, v in data["labels"].items()},
            data["summary"],
            data.get("segment_categories", []),
            json.loads(data.get("segment_quality", "{}")),
            data.get("segment_basis"),
        )
        return cls(
            data["user_ids"],
            data["item_ids"],
            data["embedding"],
            data["influence"],
            segments,
            data["run_id"],
            InterestModel(**data.get("interest_model", {})),
            json.loads(data.get("customer_fit", "{}")),
            NextModel.from_dict(data["next_model"]) if data.get("next_model") else None,
            min_rating=data.get("min_rating"),
            population=json.loads(data.get("population", "{}")),
        )


@dataclass
class PipelineResult:
    profiles: Profiles
    user_ids: list[str]  # of profiles.user_index, in order
    state: ModelState | None  # new state after a full run; None after an incremental one
    metrics: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def with_rating_scale(
    config: PipelineConfig, snapshot: Snapshot, state: ModelState | None = None
) -> PipelineConfig:
    """``config`` with its rating threshold resolved once per run: the configured one, else
    the full run's (``state``, for an incremental run), else the middle of this snapshot's
    ratings (None where it has none)."""
    if config.min_rating is not None:
        return config
    if state is not None and state.min_rating is not None:
        return replace(config, min_rating=state.min_rating)
    return replace(config, min_rating=rating_threshold(snapshot))


Step = Callable[[str], None]
Epoch = Callable[[dict[str, float]], None]


def snapshot_adoptions(snapshot: Snapshot, config: PipelineConfig) -> tuple[Actions, Adoptions]:
    """The snapshot's timed actions and the adoptions along its follows."""
    src, dst = social_ties(snapshot)
    actions = timed_actions(snapshot)
    window = int(config.influence_window_days * DAY_MS)
    n = snapshot.num_nodes("user")
    return actions, adoptions(actions, src, dst, n, window_ms=window)


def snapshot_influence(
    snapshot: Snapshot, actions: Actions, adopted: Adoptions, config: PipelineConfig
) -> InfluenceChoice:
    """The influence score to ship (:func:`choose_influence`, on the training device)."""
    n = snapshot.num_nodes("user")
    if actions.ts.numel() == 0:
        return not_supported(n, "no timestamped actions: adoptions cannot be counted")
    src, dst = social_ties(snapshot)
    span = int(actions.ts.max() - actions.ts.min())
    horizon = influence_horizon_ms(span, config.influence_horizon_fraction)
    return choose_influence(
        GraphAsOf(actions, src, dst, n, adopted),
        at=int(actions.ts.max()),
        horizon_ms=horizon,
        window_ms=int(config.influence_window_days * DAY_MS),
        seed=config.train.seed,
        device=pick_device(config.train.device),
    )


def run_full(
    snapshot: Snapshot,
    config: PipelineConfig,
    *,
    run_id: str,
    on_step: Step | None = None,
    on_epoch: Epoch | None = None,
    on_estimate: Callable[[float], None] | None = None,
    shown: list[tuple[str, str, int]] | None = None,
    previous: ModelState | None = None,
) -> PipelineResult:
    """Train, score and profile every user; ``shown``: the exploration slots earlier runs
    showed (the previous full run's state), which the category posteriors read; ``previous``:
    the previous full run's state, whose embeddings training starts from (a warm start,
    ``engine.models.warm_start``; None: a cold start)."""
    step = on_step or (lambda _name: None)
    timings: dict[str, float] = {}
    tic = time.perf_counter()
    config = with_rating_scale(config, snapshot)
    n_users, n_items = snapshot.num_nodes("user"), snapshot.num_nodes("item")
    pairs = interaction_pairs(snapshot, min_rating=config.min_rating)
    split = split_per_user(pairs[0], pairs[1], valid=0.1, test=0.0, seed=config.train.seed)
    init, warm = initial_embedding(
        None if previous is None else previous.embedding,
        [] if previous is None else previous.user_ids,
        [] if previous is None else previous.item_ids,
        snapshot.node_ids["user"],
        snapshot.node_ids["item"],
        split.train,
        dim=config.train.embedding_dim,
        seed=config.train.seed,
    )
    step("train")
    trained = fit_lightgcn(
        split.train,
        split.valid,
        n_users,
        n_items,
        social=social_ties(snapshot),
        config=config.train,
        init=init,
        on_epoch=on_epoch,
        on_estimate=on_estimate,
    )
    timings["train_s"] = time.perf_counter() - tic
    model = trained.model.cpu()
    with torch.no_grad():
        propagated = model.get_embedding(trained.adjacency.cpu())
    embedding, item_embedding = propagated[:n_users], propagated[n_users:]
    layer0 = model.embedding.weight.detach().clone()
    training = {
        "start": (
            {"warm_from": previous.run_id, **warm} if previous and init is not None else "cold"
        ),
        "valid": trained.best_valid,
        "best_epoch": trained.best_epoch,
        "history": trained.history,
        "epochs": len(trained.history),
        "messages_per_s": trained.messages_per_s,
        "batch_size": trained.batch_size,
        "steps_per_epoch": trained.steps_per_epoch,
    }
    n_pairs = int(pairs.size(1))
    # the later stages need only what is above: the model, its adjacency (63M entries at a
    # million users) and the split go before the influence and profile stages allocate
    del trained, model, split, pairs
    release_freed_memory()
    tic = time.perf_counter()
    step("influence")
    actions, adopted = snapshot_adoptions(snapshot, config)
    influence_choice = snapshot_influence(snapshot, actions, adopted, config)
    influence = influence_choice.score
    timings["influence_s"] = time.perf_counter() - tic
    tic = time.perf_counter()
    step("profile")
    # the interest model is fitted on this snapshot's own temporal validation split
    interest_model, interest_fit = fit_on_past(
        snapshot, max_categories=config.max_categories, min_rating=config.min_rating
    )
    inputs = interest_inputs(snapshot, config.max_categories, min_rating=config.min_rating)
    customers = customer_columns(snapshot, actions, adopted, config.customer)
    profiles = build_profiles(
        inputs,
        embedding,
        influence,
        user_ids=snapshot.node_ids["user"],
        item_ids=snapshot.node_ids["item"],
        config=config.profile,
        adopted=adopted,
        last_active=last_action_times(actions, n_users),
        interest_model=interest_model,
        customers=customers,
    )
    customer_fit = customers.fit
    population = population_shares(inputs, interest_model)
    # the next stage reads the snapshot and the profiles only: what the profile stage made
    # for itself goes first (~3 GiB at a million users)
    del actions, adopted, inputs, customers
    release_freed_memory()
    timings["profile_s"] = time.perf_counter() - tic
    tic = time.perf_counter()
    step("next")
    next_model = fit_next(snapshot, config.next)
    release_freed_memory()  # the sequence model's training
    next_cols = None
    if next_model is not None:
        next_model.shown = list(shown or [])
        next_cols = next_columns(
            snapshot,
            next_model,
            config.next,
            profiles.user_index,
            ranking=(embedding, item_embedding),
        )
        next_model.shown = _recent_shown([*next_model.shown, *next_cols.shown])
    profiles.attach(next_cols)
    profiles.take(review_columns(snapshot))
    timings["next_s"] = time.perf_counter() - tic
    state = ModelState(
        user_ids=list(snapshot.node_ids["user"]),
        item_ids=list(snapshot.node_ids["item"]),
        embedding=layer0,
        influence=influence,
        segments=profiles.segments,
        run_id=run_id,
        interest_model=interest_model,
        customer_fit=customer_fit,
        next_model=next_model,
        min_rating=config.min_rating,
        population=population,
    )
    metrics = {
        **training,
        "users": n_users,
        "items": n_items,
        "pairs": n_pairs,
        "cold_start_users": int(profiles.cold_start.sum()),
        "segments": profiles.segments.summary,
        "segment_quality": profiles.segments.quality,
        "interest_model": interest_fit,
        "influence": influence_choice.describe(),
        "customer": customer_fit,
        "next": next_cols.fit if next_cols is not None else {},
        "reviews": review_summary(snapshot),
    }
    metrics["support"] = run_support(snapshot, metrics)
    return PipelineResult(profiles, list(snapshot.node_ids["user"]), state, metrics, timings)


MAX_SHOWN = 500_000


def _recent_shown(shown: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """The latest exploration slot per (user, category), newest last, at most MAX_SHOWN."""
    latest: dict[tuple[str, str], int] = {}
    for user, category, at in shown:
        latest[(user, category)] = max(at, latest.get((user, category), at))
    ordered = sorted(latest.items(), key=lambda kv: kv[1])[-MAX_SHOWN:]
    return [(u, c, at) for (u, c), at in ordered]


def run_incremental(
    snapshot: Snapshot, state: ModelState, config: PipelineConfig, *, on_step: Step | None = None
) -> PipelineResult:
    """Profiles of the snapshot's seed users (``node_features['user']['seed']``)."""
    step = on_step or (lambda _name: None)
    timings: dict[str, float] = {}
    tic = time.perf_counter()
    config = with_rating_scale(config, snapshot, state)
    user_ids, item_ids = snapshot.node_ids["user"], snapshot.node_ids["item"]
    n_users, n_items = len(user_ids), len(item_ids)
    seeds = snapshot.node_features.get("user", {}).get("seed")
    seed_index = torch.nonzero(seeds).flatten() if seeds is not None else torch.arange(n_users)
    known_users, their_users = known_rows(user_ids, state.user_ids, 0)
    step("finetune")
    pairs = interaction_pairs(snapshot, min_rating=config.min_rating)
    # the base run's embeddings; a node it did not know starts among its neighbours
    init, _ = initial_embedding(
        state.embedding,
        state.user_ids,
        state.item_ids,
        user_ids,
        item_ids,
        pairs,
        dim=state.embedding.size(1),
        seed=config.train.seed,
    )
    tuned = fit_lightgcn(
        pairs,
        pairs[:, :0],
        n_users,
        n_items,
        social=social_ties(snapshot),
        config=replace(config.train, max_epochs=config.finetune_epochs),
        init=init,
    )
    with torch.no_grad():
        propagated = tuned.model.cpu().get_embedding(tuned.adjacency.cpu())
    embedding, item_embedding = propagated[:n_users], propagated[n_users:]
    timings["train_s"] = time.perf_counter() - tic
    tic = time.perf_counter()
    step("profile")
    # influence and its rank stay on the full run's population-wide scale
    influence = torch.zeros(n_users)
    influence[known_users] = state.influence[their_users].float()
    rank = competition_rank(influence, state.influence)
    if not bool(torch.isfinite(state.influence).any()):  # the full run had no influence
        influence, rank = torch.full((n_users,), float("nan")), torch.full((n_users,), float("nan"))
    inputs = interest_inputs(snapshot, config.max_categories, min_rating=config.min_rating)
    actions, adopted = snapshot_adoptions(snapshot, config)
    profiles = build_profiles(
        inputs,
        embedding,
        influence,
        user_ids=user_ids,
        item_ids=item_ids,
        config=config.profile,
        users=seed_index,
        influence_rank=rank,
        segments=state.segments,
        adopted=adopted,
        last_active=last_action_times(actions, n_users),
        interest_model=state.interest_model,
        population=state.population,
        # the full run's value and churn models, on the changed users' neighbourhood
        customers=customer_columns(
            snapshot, actions, adopted, config.customer, state.customer_fit or None
        ),
    )
    timings["profile_s"] = time.perf_counter() - tic
    tic = time.perf_counter()
    step("next")
    # the full run's sequence model, and the exploration it showed
    next_cols = (
        next_columns(
            snapshot,
            state.next_model,
            config.next,
            seed_index,
            ranking=(embedding, item_embedding),
        )
        if state.next_model is not None and snapshot.actions is not None
        else None
    )
    profiles.attach(next_cols)
    profiles.take(review_columns(snapshot))
    timings["next_s"] = time.perf_counter() - tic
    metrics = {
        "seed_users": int(seed_index.numel()),
        "context_users": n_users,
        "items": n_items,
        "base_run": state.run_id,
    }
    return PipelineResult(
        profiles, [user_ids[i] for i in seed_index.tolist()], None, metrics, timings
    )


def save_result(result: PipelineResult, path: Path) -> Path:
    """Profiles and provenance to one file (plain tensors, lists and JSON text; the state is
    saved separately)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {key: getattr(result.profiles, key) for key in COLUMNS}
    payload["recommendations"] = result.profiles.recommendations.to_dict()
    payload["explanation"] = result.profiles.explanation.to_dict()
    payload.update(
        user_ids=result.user_ids,
        metrics=json.dumps(result.metrics),
        timings=json.dumps(result.timings),
    )
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


@dataclass
class SavedResult:
    """A result read back: the columns the write-back needs, not the segment model."""

    user_ids: list[str]
    columns: dict[str, Any]
    metrics: dict[str, Any]
    timings: dict[str, float]


def load_result(path: Path) -> SavedResult:
    data = torch.load(path, weights_only=True)
    columns = {k: data[k] for k in COLUMNS}
    columns["recommendations"] = RecommendationLists.from_dict(columns["recommendations"])
    columns["explanation"] = InterestEvidence.from_dict(columns["explanation"])
    return SavedResult(
        data["user_ids"],
        columns,
        json.loads(data["metrics"]),
        json.loads(data["timings"]),
    )
