"""The next-behaviour and recommendation dimensions of a profile, for a refresh.

A full run trains the sequence model (:mod:`engine.models.next_behaviour`) on every user's actions
and
keeps it (:class:`NextModel`, saved in the pipeline's state) with the exploration slots it
showed. Every run, full or incremental, then predicts for its users:

- the next categories (top ``top_categories`` with probabilities), the next action's kind and
  its probability, the probability that the next action is a purchase, and the expected hours
  to the next action, with a sentence that says so;
- ``n`` recommendations (:mod:`engine.dimensions.recommendations`): exploitation from the sequence
model's
  next-item scores and the item ranking's scores, exploration by Thompson sampling over the
  category posteriors. An exploration slot shown by an earlier run that the user did not
  answer with an action in its category counts against the category; an action counts for it.

An incremental run reads the full run's model in the full run's item and category spaces: its
snapshot's actions are mapped by id (an item the model never saw is left out of the sequence).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from core.vocabulary import FOLLOWS, PURCHASED, PURCHASES
from engine.device import pick_device
from engine.dimensions.columns import FieldColumns
from engine.dimensions.recommendation_lists import RecommendationLists
from engine.dimensions.recommendations import EXPLORE, EvidenceSource, RecommendConfig
from engine.interactions import primary_category, social_ties, unique_pairs
from engine.models.linear_scores import ItemSide, RankerBlock, standardised_scores
from engine.models.next_behaviour import (
    NextBehaviourModel,
    SequenceConfig,
    SequenceModel,
    SocialMix,
    friend_category_mix,
    held_out_category_ndcg,
    item_score_parts,
    item_vectors,
    predict_next,
    train_next_behaviour,
)
from engine.sequences import Sequences, action_categories, build_sequences
from engine.snapshot import ActionLog, Snapshot

# the contract's fields the sequence model predicts (a refresh and the online path alike)
NEXT_FIELDS = (
    "next_categories",
    "next_category_probabilities",
    "next_action",
    "next_action_probability",
    "purchase_probability",
    "hours_to_next_action",
    "next_explanation",
)


@dataclass(frozen=True)
class NextConfig:
    sequence: SequenceConfig = field(default_factory=SequenceConfig)
    recommend: RecommendConfig = field(default_factory=RecommendConfig)
    top_categories: int = 3


@dataclass
class NextModel:
    """A full run's sequence model, the spaces it reads, and the exploration slots shown."""

    weights: dict[str, Tensor]
    config: dict[str, Any]  # SequenceConfig fields
    sizes: dict[str, int]  # num_items, num_categories, num_kinds
    item_ids: list[str]
    categories: list[str]
    kinds: list[str]
    social: bool
    shown: list[tuple[str, str, int]] = field(default_factory=list)  # user, category, at (ms)
    fit: dict[str, Any] = field(default_factory=dict)

    def trained(self) -> SequenceModel:
        config = SequenceConfig(**self.config)
        model = NextBehaviourModel(
            self.sizes["num_items"],
            self.sizes["num_categories"],
            self.sizes["num_kinds"],
            config.dim,
            social=self.social,
        )
        model.load_state_dict(self.weights)
        return SequenceModel(model.eval(), config, -1, float("nan"), [], 0.0, float("nan"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights": self.weights,
            "config": json.dumps(self.config),
            "sizes": self.sizes,
            "item_ids": self.item_ids,
            "categories": self.categories,
            "kinds": self.kinds,
            "social": self.social,
            "shown": json.dumps(self.shown),
            "fit": json.dumps(self.fit),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NextModel:
        return cls(
            data["weights"],
            json.loads(data["config"]),
            data["sizes"],
            data["item_ids"],
            data["categories"],
            data["kinds"],
            bool(data["social"]),
            [tuple(s) for s in json.loads(data["shown"])],  # type: ignore[misc]
            json.loads(data["fit"]),
        )


@dataclass
class NextColumns(FieldColumns):
    """Per snapshot user (None where a figure does not apply): the contract's next-behaviour
    fields by name, and the recommendation lists (``recommendations``, filled for the scored
    users)."""

    recommendations: RecommendationLists = field(
        default_factory=lambda: RecommendationLists.empty(0)
    )
    shown: list[tuple[str, str, int]] = field(default_factory=list)  # exploration slots shown
    fit: dict[str, Any] = field(default_factory=dict)


def _log_in(
    log: ActionLog,
    categories: Tensor,
    item_map: Tensor,
    category_map: Tensor,
    kind_map: Tensor,
) -> tuple[ActionLog, Tensor]:
    """The log and its actions' categories moved into another index space (-1 in a map drops
    the action; an unknown category becomes 'none')."""
    item = item_map[log.item]
    kind = kind_map[log.kind]
    keep = (item >= 0) & (kind >= 0)

    def moved(category: Tensor) -> Tensor:
        return torch.where(category >= 0, category_map[category.clamp_min(0)], -1)[keep]

    moved_log = ActionLog(
        log.user[keep], item[keep], kind[keep], log.ts[keep], moved(log.category), log.kinds
    )
    return moved_log, moved(categories)


def _index_map(names: list[str], into: list[str]) -> Tensor:
    position = {name: i for i, name in enumerate(into)}
    return torch.tensor([position.get(n, -1) for n in names], dtype=torch.long)


def fit_next(snapshot: Snapshot, config: NextConfig) -> NextModel | None:
    """Train on the snapshot's actions (None without an action log or a user with two)."""
    log = snapshot.actions
    if log is None or not len(log):
        return None
    n_users = snapshot.num_nodes("user")
    n_categories = snapshot.num_nodes("category")
    categories = action_categories(log, snapshot)
    sequences = build_sequences(log, categories, n_users, config.sequence.length)
    if not bool((sequences.length >= 2).any()):
        return None
    social = _has_follows(snapshot) and config.sequence.social
    mix = (
        friend_category_mix(
            sequences, social_ties(snapshot), n_categories, config.sequence.social_topk
        )
        if social
        else None
    )
    trained = train_next_behaviour(
        sequences,
        mix,
        num_items=snapshot.num_nodes("item"),
        num_categories=n_categories,
        num_kinds=len(log.kinds),
        config=config.sequence,
    )
    model_ndcg, own_ndcg = held_out_category_ndcg(trained, sequences, mix)
    return NextModel(
        weights={k: v.detach().clone() for k, v in trained.model.state_dict().items()},
        config=asdict(config.sequence),
        sizes={
            "num_items": snapshot.num_nodes("item"),
            "num_categories": n_categories,
            "num_kinds": len(log.kinds),
        },
        item_ids=list(snapshot.node_ids["item"]),
        categories=list(snapshot.node_ids["category"]),
        kinds=list(log.kinds),
        social=social,
        fit={
            "best_epoch": trained.best_epoch,
            "valid_ndcg10": trained.best_valid,
            "epochs": len(trained.history),
            "seconds": trained.seconds,
            "sequences_per_s": trained.sequences_per_s,
            "social": social,
            "users_with_sequences": int((sequences.length >= 2).sum()),
            # next categories ship from the model only where it ranked the held-out last
            # actions (of users that did not choose its epoch) better than their own counts
            # did: a tie ships the simpler method
            "valid_category_ndcg10": {"sequence": model_ndcg, "own_frequent": own_ndcg},
            "next_categories_from": "sequence" if model_ndcg > own_ndcg else "own_frequent",
            "kinds_seen": sorted({log.kinds[k] for k in torch.unique(log.kind).tolist()}),
        },
    )


def _has_follows(snapshot: Snapshot) -> bool:
    return len(snapshot.edges.get(FOLLOWS, [])) > 0


def next_columns(
    snapshot: Snapshot,
    model: NextModel,
    config: NextConfig,
    users: Tensor,
    *,
    ranking: tuple[Tensor, Tensor] | None = None,
) -> NextColumns:
    """Predictions and lists for ``users`` (snapshot indices; other rows stay None).
    ``ranking``: the item ranking's (user, item) embeddings in the snapshot's spaces."""
    n_users = snapshot.num_nodes("user")
    log = snapshot.actions
    assert log is not None
    item_map = _index_map(snapshot.node_ids["item"], model.item_ids)
    category_map = _index_map(snapshot.node_ids["category"], model.categories)
    kind_map = _index_map(log.kinds, model.kinds)
    categories = action_categories(log, snapshot)
    mapped, mapped_categories = _log_in(log, categories, item_map, category_map, kind_map)
    trained = model.trained()
    out, sequences, mix = next_predictions(
        model, config, trained, mapped, mapped_categories, social_ties(snapshot), n_users, users
    )
    lists, shown = _lists(
        snapshot, model, trained, sequences, mix, users, config, ranking, categories, item_map
    )
    return NextColumns(out, recommendations=lists, shown=shown, fit=dict(model.fit))


def next_predictions(
    model: NextModel,
    config: NextConfig,
    trained: SequenceModel,
    log: ActionLog,
    categories: Tensor,
    follows: tuple[Tensor, Tensor],
    n_users: int,
    users: Tensor,
) -> tuple[dict[str, list[Any]], Sequences, SocialMix | None]:
    """The next-behaviour fields of ``users`` (of ``n_users`` rows; every other row None) from
    ``log`` already in the model's spaces (items, kinds; ``categories`` [A] each action's
    category in the model's, -1 unknown) and the follows among its users: what a refresh and
    the online path (:mod:`engine.dimensions.online_next`) both compute."""
    sequences = build_sequences(log, categories, n_users, trained.config.length)
    mix = (
        friend_category_mix(sequences, follows, len(model.categories), trained.config.social_topk)
        if model.social
        else None
    )
    pred = predict_next(trained, sequences, mix)
    if model.fit.get("next_categories_from") == "own_frequent":
        pred = replace(pred, category_probs=own_category_probs(sequences, len(model.categories)))
    out = _prediction_columns(pred, model, sequences, users, n_users, config.top_categories)
    return out, sequences, mix


def own_category_probs(sequences: Sequences, num_categories: int) -> Tensor:
    """[U, C] each user's own category shares in their sequence, popularity for ties and for a
    user without actions: the baseline a run ships when it validated better."""
    counts = torch.zeros(sequences.num_users, num_categories + 1)
    counts.scatter_add_(
        1, sequences.category, torch.ones_like(sequences.category, dtype=torch.float)
    )
    counts = counts[:, 1:]
    pop = counts.sum(0)
    scores = counts + 1e-3 * pop / pop.sum().clamp_min(1)
    return scores / scores.sum(1, keepdim=True).clamp_min(1e-12)


def _prediction_columns(
    pred: Any,
    model: NextModel,
    sequences: Sequences,
    users: Tensor,
    n_users: int,
    top: int,
) -> dict[str, list[Any]]:
    names = {k: model.kinds[k].lower() for k in range(len(model.kinds))}
    own = model.fit.get("next_categories_from") == "own_frequent"
    # a purchase probability only where the model saw purchases (LastFM has none)
    seen = model.fit.get("kinds_seen", model.kinds)
    buy = model.kinds.index(PURCHASED) if PURCHASED in seen else None
    columns: dict[str, list[Any]] = {key: [None] * n_users for key in NEXT_FIELDS}
    k = min(top, pred.category_probs.size(1))
    probs, cats = _top_stored(pred.category_probs[users], k)
    kind_p, kind = pred.kind_probs[users].max(1)
    hours = pred.hours_to_next[users].tolist()
    lengths = sequences.length[users].tolist()
    for row, u in enumerate(users.tolist()):
        chosen = [model.categories[c] for c in cats[row].tolist()]
        p = [round(float(x), 4) for x in probs[row].tolist()]
        columns["next_categories"][u] = chosen
        columns["next_category_probabilities"][u] = p
        if lengths[row] == 0:
            columns["next_explanation"][u] = (
                "no actions yet: next categories from the people they follow"
                if model.social
                else None
            )
            continue
        action = names[int(kind[row])]
        columns["next_action"][u] = action
        columns["next_action_probability"][u] = float(kind_p[row])
        if buy is not None:
            columns["purchase_probability"][u] = float(pred.kind_probs[u, buy])
        columns["hours_to_next_action"][u] = hours[row]
        shares = ", ".join(f"{c} {q:.0%}" for c, q in zip(chosen, p, strict=True))
        source = " (their own mix: it validated better)" if own else ""
        columns["next_explanation"][u] = (
            f"next: {shares}{source}; most likely {action} ({float(kind_p[row]):.0%}) in about "
            f"{_duration(hours[row])}, from their last {lengths[row]} actions"
        )
    return columns


def _top_stored(probs: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The ``k`` most probable categories by the probability as stored (4 digits), ties to the
    first category: the same users scored in another batch (a refresh's neighbourhood, the
    online path's one customer) differ in float32 sums by ~1e-7, which must not reorder
    categories the profile shows as equally likely."""
    stored = torch.round(probs.double() * STORED_SCALE)
    cats = torch.argsort(-stored, dim=1, stable=True)[:, :k]
    return probs.gather(1, cats), cats


STORED_SCALE = 1e4  # next-category probabilities are stored to 4 digits


def _duration(hours: float) -> str:
    if hours != hours:
        return "an unknown time"
    if hours < 1:
        return f"{max(1, round(hours * 60))} minutes"
    if hours < 48:
        return f"{hours:.0f} hours"
    return f"{hours / 24:.0f} days"


def _lists(
    snapshot: Snapshot,
    model: NextModel,
    trained: SequenceModel,
    sequences: Sequences,
    mix: Any,
    users: Tensor,
    config: NextConfig,
    ranking: tuple[Tensor, Tensor] | None,
    categories: Tensor,
    item_map: Tensor,
) -> tuple[RecommendationLists, list[tuple[str, str, int]]]:
    """Recommendation lists of ``users`` in the snapshot's item space (``categories``: each
    action's; ``item_map``: snapshot item -> model item, -1 unknown)."""
    log = snapshot.actions
    assert log is not None
    n_users, n_items = snapshot.num_nodes("user"), snapshot.num_nodes("item")
    names = snapshot.node_ids["category"]
    now = int(log.ts.max()) if len(log) else 0
    source = _evidence_source(snapshot, log, categories, model.shown, now)
    user_ids, item_ids = snapshot.node_ids["user"], snapshot.node_ids["item"]
    lists = RecommendationLists.empty(n_users, config.recommend.n, item_ids, names)
    shown: list[tuple[str, str, int]] = []
    known = item_map >= 0
    # the [B, I] scores and their top-k on the device; the lists from a few columns, here
    device = pick_device(trained.config.device)
    vectors = item_vectors(trained.model).cpu()[item_map.clamp_min(0)]
    sequence_items = ItemSide.of(vectors, known).to(device)
    ranking_items = ItemSide.of(ranking[1]).to(device) if ranking is not None else None
    snapshot_item = torch.full((model.sizes["num_items"],), -1, dtype=torch.long)
    snapshot_item[item_map[known]] = torch.nonzero(known).flatten()
    snapshot_item = snapshot_item.to(device)
    batch = config.recommend.rows_per_block(n_items)
    parts = item_score_parts(trained, sequences, mix, users, batch_size=batch)
    for block, (rows, query, (row, item, value)) in enumerate(parts):
        start = block * batch
        item = snapshot_item[item]
        kept = item >= 0
        rankers = [RankerBlock(sequence_items, query, (row[kept], item[kept], value[kept]))]
        if ranking is not None and ranking_items is not None:
            rankers.append(RankerBlock(ranking_items, ranking[0][rows].to(device)))
        cfg = replace_seed(config.recommend, start)
        recs, evidence = source.lists(rows, standardised_scores(rankers), cfg)
        lists.put(rows, recs, evidence.friend_share)
        explored = (recs.kind == EXPLORE) & (recs.category >= 0) & (recs.item >= 0)
        r, slot = torch.nonzero(explored, as_tuple=True)
        for u, c in zip(rows[r].tolist(), recs.category[r, slot].tolist(), strict=True):
            shown.append((user_ids[u], names[c], now))
    return lists, shown


def replace_seed(config: RecommendConfig, offset: int) -> RecommendConfig:
    """The batch's sampler seed: the run's seed and the batch's first row (reproducible)."""
    return replace(config, seed=config.seed * 1_000_003 + offset)


def _evidence_source(
    snapshot: Snapshot,
    log: ActionLog,
    categories: Tensor,
    shown: list[tuple[str, str, int]],
    now: int,
) -> EvidenceSource:
    n_users = snapshot.num_nodes("user")
    pairs = unique_pairs(log.user, log.item)
    bought = snapshot.edges.get(PURCHASES)
    known = categories >= 0
    failures = _unanswered(snapshot, log, categories, shown)
    return EvidenceSource.build(
        pairs=pairs,
        bought=torch.stack([bought.src, bought.dst])
        if bought is not None
        else torch.zeros(2, 0, dtype=torch.long),
        category_counts=(log.user[known], categories[known], torch.ones(int(known.sum()))),
        follows=social_ties(snapshot),
        shown=failures,
        item_category=primary_category(snapshot),
        num_users=n_users,
        num_categories=snapshot.num_nodes("category"),
    )


def _unanswered(
    snapshot: Snapshot, log: ActionLog, categories: Tensor, shown: list[tuple[str, str, int]]
) -> tuple[Tensor, Tensor, Tensor]:
    """(user, category, 1) for each earlier exploration slot the user did not act on after."""
    users = snapshot.index_of("user")
    cats = {name: i for i, name in enumerate(snapshot.node_ids["category"])}
    rows = [(users[u], cats[c], at) for u, c, at in shown if u in users and c in cats]
    if not rows:
        empty = torch.zeros(0, dtype=torch.long)
        return empty, empty, torch.zeros(0)
    u, c, at = (torch.tensor(col, dtype=torch.long) for col in zip(*rows, strict=True))
    # the latest action time per (user, category), over the keys of the shown slots
    n_c = max(1, snapshot.num_nodes("category"))
    has = categories >= 0
    keys, inverse = torch.unique(
        torch.cat([log.user[has] * n_c + categories[has], u * n_c + c]), return_inverse=True
    )
    latest = torch.full((keys.numel(),), -1, dtype=torch.long)
    n_actions = int(has.sum())
    latest.scatter_reduce_(0, inverse[:n_actions], log.ts[has], "amax")
    unanswered = latest[inverse[n_actions:]] <= at
    return u[unanswered], c[unanswered], torch.ones(int(unanswered.sum()))
