"""Assemble each user's profile from the trained embedding, the interest distributions and the
influence scores: top interests, segment, explanation, uncertainty, explore candidates.

Explanations and explore lists are computed for every user at once (sorting edges by user and
contribution), not in a per-user loop, so a million users stay a matter of seconds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from core.profile_contract import FIELDS
from engine.dimensions.adoptions import Adoptions
from engine.dimensions.columns import FieldColumns
from engine.dimensions.customer_profile import CustomerColumns
from engine.dimensions.interest_evidence import InterestEvidence, Named
from engine.dimensions.interests import (
    InterestInputs,
    InterestModel,
    evidence_strength,
    interest_scores,
    normalise,
    own_interests,
    population_prior,
    social_interests,
)
from engine.dimensions.next_steps import NextColumns
from engine.dimensions.recommendation_lists import RecommendationLists
from engine.dimensions.segments import (
    assign,
    choose_segments,
    interest_features,
    lift_labels,
    projection_basis,
)

EVIDENCE_BLOCK = 65_536  # users whose explanations are picked at once


@dataclass(frozen=True)
class ProfileConfig:
    top_k: int = 5
    explain_k: int = 5  # explained interests per user: every top interest
    evidence_k: int = 2  # items and friends named per explained interest
    explore_k: int = 3
    segment_candidates: tuple[int, ...] = (4, 6, 8, 10, 12, 16)  # k chosen by silhouette
    cold_threshold: int = 3  # fewer categorised interactions than this = cold start
    seed: int = 0


@dataclass(frozen=True)
class Segments:
    """k-means segments of the users' interest distributions (``engine.dimensions.segments``)."""

    centres: Tensor  # [k, C] in interest_features space over ``categories``
    labels: dict[int, str]
    summary: list[dict[str, object]]
    categories: list[str] = field(default_factory=list)  # empty: centres on embeddings (v1)
    quality: dict[str, object] = field(default_factory=dict)  # silhouette per candidate k
    basis: Tensor | None = None  # [C, 64] projection of the features: the look-alike vectors

    def features(self, p: Tensor, names: list[str]) -> Tensor:
        """Interest distributions ``p`` over ``names`` in this segmentation's columns."""
        column = {name: i for i, name in enumerate(names)}
        out = torch.zeros(p.size(0), len(self.categories))
        for j, name in enumerate(self.categories):
            if name in column:
                out[:, j] = p[:, column[name]]
        return interest_features(out)


@dataclass
class Profiles:
    """Column-wise profiles of ``user_index`` (indices into the snapshot's users): the
    structure the writer owns (embedding, interests and their evidence, recommendations) and
    ``fields``, the union of every dimension's columns (one entry per profiled user for each
    field of ``core.profile_contract.FIELDS``, None where it does not apply). A field reads as
    an attribute too (``profiles.clv``)."""

    user_index: Tensor
    embedding: Tensor
    interests: list[list[str]]
    interest_weights: list[list[float]]
    explanation: InterestEvidence  # [u]: per interest, {"items": [...], "friends": [...]}
    interest_adoptions: list[list[int]]  # per interest: follower adoptions of its items triggered
    segments: Segments
    fields: dict[str, Any]
    recommendations: RecommendationLists = field(
        default_factory=lambda: RecommendationLists.empty(0)
    )

    def __getattr__(self, name: str) -> Any:
        columns = self.__dict__.get("fields", {})
        if name in columns:
            return columns[name]
        raise AttributeError(name)

    def take(self, columns: FieldColumns | None) -> None:
        """Take a dimension's columns (one value per snapshot user) for the profiled users;
        ``None`` (the snapshot lacks what it is computed from) leaves those fields None."""
        if columns is not None:
            self.fields.update(columns.select(self.user_index.tolist()))

    def attach(self, columns: NextColumns | None) -> None:
        """Take the next-behaviour columns (one value per snapshot user) for the profiled
        users; ``None`` (no action log) leaves those fields None."""
        users = self.user_index.tolist()
        if columns is None:
            self.recommendations = RecommendationLists.empty(len(users))
            return
        self.fields.update(columns.select(users))
        self.recommendations = columns.recommendations.select(self.user_index)


def _top_per_group(group: Tensor, score: Tensor, k: int) -> Tensor:
    """Indices of the ``k`` highest-scoring entries of each group (score > 0 only)."""
    order = torch.argsort(score, descending=True, stable=True)
    order = order[torch.argsort(group[order], stable=True)]
    g = group[order]
    start = torch.searchsorted(g, g, right=False)
    rank = torch.arange(g.numel()) - start
    return order[(rank < k) & (score[order] > 0)]


def _evidence(
    owner: Tensor, thing: Tensor, table: Tensor, scale: Tensor, top: Tensor, k: int
) -> tuple[Tensor, Tensor, Tensor]:
    """For every (user, j-th top interest): the ``k`` things contributing most, where thing
    ``e`` of user ``owner[e]`` adds ``table[thing[e], c] * scale[e]`` to category ``c``.
    ``owner`` is sorted; users go in blocks, so memory stays bounded however many edges there
    are. Returns (user, j, thing)."""
    j = top.size(1)
    edges = torch.searchsorted(owner, torch.arange(0, top.size(0) + EVIDENCE_BLOCK, EVIDENCE_BLOCK))
    parts: list[tuple[Tensor, Tensor, Tensor]] = []
    for lo, hi in itertools.pairwise(edges.tolist()):
        o, t = owner[lo:hi], thing[lo:hi]
        contrib = table[t[:, None], top[o]] * scale[lo:hi, None]  # [edges, j]
        owners = o.repeat_interleave(j)
        slot = torch.arange(j).repeat(o.numel())
        keep = _top_per_group(owners * j + slot, contrib.flatten(), k)
        parts.append((owners[keep], slot[keep], t.repeat_interleave(j)[keep]))
    if not parts:
        empty = torch.empty(0, dtype=torch.long)
        return empty, empty, empty
    u, s, x = (torch.cat(p) for p in zip(*parts, strict=True))
    return u, s, x


def build_profiles(
    inputs: InterestInputs,
    embedding: Tensor,
    influence: Tensor,
    *,
    user_ids: list[str],
    item_ids: list[str],
    config: ProfileConfig = ProfileConfig(),
    users: Tensor | None = None,
    influence_rank: Tensor | None = None,
    segments: Segments | None = None,
    adopted: Adoptions | None = None,
    last_active: Tensor | None = None,
    interest_model: InterestModel | None = None,
    customers: CustomerColumns | None = None,
    population: dict[str, float] | None = None,
) -> Profiles:
    """Profiles of ``users`` (default: everyone); the whole graph informs each of them.

    A full run ranks influence and fits segments here; an incremental one passes the full
    run's ``influence_rank``, ``segments`` and ``population`` (its category shares, the
    interests' prior) so a refreshed user is placed on the same scale.
    ``last_active`` [U] holds each user's latest action time (-1: none known).
    """
    n = inputs.num_users
    users = torch.arange(n) if users is None else users
    interest_model = interest_model or InterestModel()
    half_life = interest_model.half_life_days
    own = own_interests(inputs, half_life_days=half_life, intent=interest_model.intent)
    # an incremental run's prior is the full run's population, not its neighbourhood's
    p = interest_scores(
        own, inputs, interest_model, population_prior(population or {}, inputs.categories)
    )
    own_share = normalise(own)
    social = social_interests(own_share, inputs)  # followees' mean own distribution
    k = min(config.top_k, p.size(1))
    weights, top = torch.topk(p, k, dim=1) if k else (torch.zeros(n, 0), torch.zeros(n, 0).long())
    names = inputs.categories

    # Explanation: the items (own interactions) and friends (followees) behind each top
    # interest, by their actual share of its weight in interest_scores: an item adds its
    # strength times its category share, a friend their own distribution's share (times the
    # social weight over the number of followees, the same for every friend of a user). Only
    # things with a share are named; an interest without any comes from popularity alone.
    explained = top[:, : config.explain_k]
    # one evidence entry per (user, item), however many kinds of interaction link them
    n_items = inputs.item_category.size(0)
    pair, where = torch.unique(inputs.user * n_items + inputs.item, return_inverse=True)
    strength = torch.zeros(pair.numel()).index_add_(
        0, where, evidence_strength(inputs, half_life, interest_model.intent)
    )
    pair_user, pair_item = pair // n_items, pair % n_items  # sorted by user
    iu, islot, iitem = _evidence(
        pair_user, pair_item, inputs.item_category, strength, explained, config.evidence_k
    )
    by_follower = torch.argsort(inputs.follow_src, stable=True)
    social_on = torch.full((by_follower.numel(),), float(interest_model.social > 0))
    fu, fslot, ffriend = _evidence(
        inputs.follow_src[by_follower],
        inputs.follow_dst[by_follower],
        own_share,
        social_on,
        explained,
        config.evidence_k,
    )
    position = torch.full((n,), -1, dtype=torch.long)  # user -> row of the profiles
    position[users] = torch.arange(users.numel())

    def named(user: Tensor, slot: Tensor, thing: Tensor, names: list[str]) -> Named:
        row = position[user]
        mine = row >= 0
        return Named.of(row[mine], slot[mine], thing[mine], names)

    kept_t = (weights > 0).sum(1)  # no evidence, no interest: zero weights are dropped
    explanation = InterestEvidence(
        named(iu, islot, iitem, item_ids), named(fu, fslot, ffriend, user_ids), kept_t[users]
    )
    adoptions, interest_adoptions = adoption_evidence(adopted, inputs.item_category, top, n)

    evidence = (own > 0).sum(1)
    interactions = torch.bincount(inputs.user, minlength=n)
    uncertainty = 1.0 / torch.sqrt(1.0 + interactions.float())
    # explore: what the people a user follows are into and the user has shown nothing of
    bonus = torch.where(own > 0, torch.zeros_like(social), social)
    bonus[torch.arange(n)[:, None], top] = 0
    ek = min(config.explore_k, p.size(1))
    explore_w, explore = torch.topk(bonus, ek, dim=1) if ek else (bonus[:, :0], top[:, :0])

    if segments is None:
        features = interest_features(p)
        segment, centres, silhouettes = choose_segments(
            features, config.segment_candidates, seed=config.seed
        )
        labels, terms = lift_labels(segment, p, names)
        summary = segment_summaries(segment, influence, labels, terms, evidence)
        quality = {"silhouette": silhouettes, "chosen_k": int(centres.size(0))}
        basis = projection_basis(features, embedding.size(1))
        segments = Segments(centres, labels, summary, list(names), quality, basis)
    if segments.categories:
        features = segments.features(p, names)
        segment = assign(features, segments.centres)
    else:  # a state from before segments were interest-based
        segment = assign(embedding, segments.centres)
    # Look-alike vectors (profile_embedding, served by the vector index): the interest
    # features projected to a fixed size. An offline test chose them over the trained
    # embedding and item overlap (engine.evaluation.lookalikes, the figures in docs/engine.md,
    # "Profile"); a state without a basis keeps the trained embedding.
    if segments.basis is not None:
        embedding = features @ segments.basis
    summary, labels = segments.summary, segments.labels
    if influence_rank is None and not bool(torch.isfinite(influence).any()):
        rank = torch.full((n,), float("nan"))  # influence does not apply here: no rank either
    elif influence_rank is None:
        rank = competition_rank(influence, influence)
    else:
        rank = influence_rank
    sel = users.tolist()
    kept = kept_t.tolist()
    # Whole tensors to lists once: indexing a tensor per user and value costs ~10 s at 100k.
    top_l, weights_l, adoptions_l = top.tolist(), weights.tolist(), interest_adoptions.tolist()
    explore_l, explore_on = explore.tolist(), (explore_w > 0).tolist()
    picked = [(explore_l[u], explore_on[u]) for u in sel]
    segment_l = segment.tolist()
    active_l = last_active.tolist() if last_active is not None else [-1] * n
    fields: dict[str, Any] = {
        "influence": influence[users],
        "influence_rank": rank[users],
        "segment": segment[users],
        "segment_label": [labels.get(segment_l[u], "") for u in sel],
        "uncertainty": uncertainty[users],
        "explore": [[names[i] for i, on in zip(ex, on_, strict=True) if on] for ex, on_ in picked],
        "adoptions": adoptions[users],
        "cold_start": (interactions < config.cold_threshold)[users],
        "last_active": [active_l[u] if active_l[u] >= 0 else None for u in sel],
        **(customers.select(sel) if customers is not None else {}),
    }
    for f in FIELDS:  # a dimension not computed here (next behaviour: attach) is None until then
        fields.setdefault(f.name, [None] * len(sel))
    return Profiles(
        user_index=users,
        embedding=embedding[users],
        interests=[[names[i] for i in top_l[u][: kept[u]]] for u in sel],
        interest_weights=[[round(w, 6) for w in weights_l[u][: kept[u]]] for u in sel],
        explanation=explanation,
        interest_adoptions=[adoptions_l[u][: kept[u]] for u in sel],
        segments=segments,
        fields=fields,
    )


def adoption_evidence(
    adopted: Adoptions | None, item_category: Tensor, top: Tensor, n: int, chunk: int = 1_000_000
) -> tuple[Tensor, Tensor]:
    """Follower adoptions each user triggered: in all ([U]) and of items in each of their top
    interests ([U, k]): the evidence an analyst checks an influence score against."""
    total = torch.zeros(n, dtype=torch.long)
    per_interest = torch.zeros(n, top.size(1), dtype=torch.long)
    if adopted is None or adopted.influencer.numel() == 0:
        return total, per_interest
    total += torch.bincount(adopted.influencer, minlength=n)
    for lo in range(0, adopted.influencer.numel(), chunk):
        who, item = adopted.influencer[lo : lo + chunk], adopted.item[lo : lo + chunk]
        hit = torch.gather(item_category[item], 1, top[who]) > 0
        per_interest.index_add_(0, who, hit.long())
    return total, per_interest


def competition_rank(values: Tensor, population: Tensor) -> Tensor:
    """1 + how many of ``population`` score higher than each value: equal scores share a rank
    (a baseline on the count scale has many ties), and a value placed against another run's
    population gets the rank it would have had there."""
    ordered = torch.sort(population.float(), descending=True).values
    return torch.searchsorted(-ordered, -values.float(), right=False) + 1


def _finite(value: float) -> float | None:
    return value if value == value else None


def segment_summaries(
    segment: Tensor,
    influence: Tensor,
    labels: dict[int, str],
    terms: dict[int, list[tuple[str, float, float]]],
    evidence: Tensor,
) -> list[dict[str, object]]:
    """Per segment: size, label, the label's categories with their share and lift, mean
    influence and mean evidence."""
    summary: list[dict[str, object]] = []
    for s, label in labels.items():
        members = segment == s
        summary.append(
            {
                "segment": s,
                "label": label,
                "size": int(members.sum()),
                "top_interests": [name for name, _, _ in terms[s]],
                "lift": {name: round(lift, 3) for name, _, lift in terms[s]},
                "share": {name: round(share, 4) for name, share, _ in terms[s]},
                "mean_influence": _finite(float(influence[members].float().mean())),
                "mean_evidence": float(evidence[members].float().mean()),
            }
        )
    return summary
