"""Interests: each user's distribution over categories, from their own interactions, the
people they follow, and what is popular.

``own[u]`` sums the categories of the items ``u`` interacted with, weighted by the strength of
each interaction (``log1p`` of its weight; a rating below ``min_rating`` counts as no interest)
and, when the model says so, by its recency. The profile's distribution is a smoothed estimate
(Dirichlet smoothing with two priors):

    p[u] ∝ own[u] + social * mean(own-distribution of u's followees) + prior * popularity

so a user with a long history keeps mostly their own interests, a user with little history
leans on their friends, and one with neither gets what is popular. ``social``, ``prior`` and
the recency half-life are not constants: :func:`fit_interest_model` chooses them on a temporal
validation split of each data set (what was taken up after an inner cut, predicted from what
came before), and so is whether carts and purchases count for more than views (``INTENT``).
Own history with popularity back-off is the special case ``social = 0``, so the fitted model can
only lose to it on data it was not fitted on.

Only the ``max_categories`` heaviest categories are kept: the long tail of free-text tags
(LastFM has ~10k) carries little signal and would make the [users x categories] matrix too big.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import Tensor

from core.vocabulary import FOLLOWS, IN_CATEGORY, INTENT, RATINGS
from engine.evaluation.metrics import VALID_USERS, sample_users, user_rank_metrics
from engine.interactions import rating_threshold
from engine.neighbours import NeighbourMean
from engine.snapshot import Snapshot

# How much more an action says about a shopper's interest than a view; the model uses these
# only where its validation split says they help (InterestModel.intent).
DAY_MS = 86_400_000


@dataclass(frozen=True)
class InterestModel:
    """How own evidence, friends and popularity mix (see the module docstring)."""

    social: float = 1.0  # pseudo-count weight of the followees' mean distribution
    prior: float = 0.1  # pseudo-count weight of the popularity distribution
    half_life_days: float | None = None  # recency weighting of own evidence; None: none
    intent: bool = False  # weigh evidence by purchase intent (INTENT), where the data has kinds

    def describe(self) -> dict[str, float | bool | None]:
        return {
            "social": self.social,
            "prior": self.prior,
            "half_life_days": self.half_life_days,
            "intent": self.intent,
        }


@dataclass(frozen=True)
class InterestInputs:
    user: Tensor  # [E] interaction user index
    item: Tensor  # [E] interaction item index
    strength: Tensor  # [E] log1p(weight); 0 for a rating below min_rating
    ts: Tensor  # [E] epoch ms, -1 where unknown
    item_category: Tensor  # [I, K] dense, rows sum to 1 (or 0 for uncategorised items)
    categories: list[str]  # [K] names
    follow_src: Tensor  # src follows dst
    follow_dst: Tensor
    num_users: int
    intent: Tensor | None = None  # [E] INTENT weight of each interaction's kind (1: other kinds)


def interest_inputs(
    snapshot: Snapshot, max_categories: int = 256, *, min_rating: float | None = None
) -> InterestInputs:
    """The interactions as interest evidence; a rating (``RATINGS``) below ``min_rating`` (on
    the data's own scale; None: inferred from it, :func:`rating_threshold`) is not an
    interest."""
    if min_rating is None:
        min_rating = rating_threshold(snapshot)
    n_items = snapshot.num_nodes("item")
    names = snapshot.node_ids.get("category", [])
    links = snapshot.edges.get(IN_CATEGORY)
    if links is None or not names:
        item_category = torch.zeros(n_items, 0)
        kept: list[str] = []
    else:
        total = torch.zeros(len(names)).index_add_(0, links.dst, links.weight.float())
        top = torch.argsort(total, descending=True)[:max_categories]
        column = torch.full((len(names),), -1, dtype=torch.long)
        column[top] = torch.arange(top.numel())
        keep = column[links.dst] >= 0
        item_category = torch.zeros(n_items, top.numel())
        item_category.index_put_(
            (links.src[keep], column[links.dst[keep]]), links.weight[keep].float(), accumulate=True
        )
        item_category /= item_category.sum(1, keepdim=True).clamp(min=1e-12)
        kept = [names[i] for i in top.tolist()]
    users, items, strength, times, intent = [], [], [], [], []
    for (src, rel, dst), edges in snapshot.edges.items():
        if src == "user" and dst == "item":
            users.append(edges.src)
            items.append(edges.dst)
            weight = edges.weight.float().clamp(min=0)
            if rel in RATINGS and min_rating is not None:
                weight = torch.where(weight >= min_rating, weight, torch.zeros_like(weight))
            strength.append(weight.log1p())
            times.append(edges.ts)
            intent.append(torch.full((len(edges),), INTENT.get(rel, 1.0)))
    follows = snapshot.edges.get(FOLLOWS)
    empty = torch.empty(0, dtype=torch.long)
    return InterestInputs(
        user=torch.cat(users) if users else empty,
        item=torch.cat(items) if items else empty,
        strength=torch.cat(strength) if strength else torch.empty(0),
        ts=torch.cat(times) if times else empty,
        item_category=item_category,
        categories=kept,
        follow_src=follows.src if follows is not None else empty,
        follow_dst=follows.dst if follows is not None else empty,
        num_users=snapshot.num_nodes("user"),
        intent=torch.cat(intent) if intent else torch.empty(0),
    )


def evidence_strength(
    inputs: InterestInputs, half_life_days: float | None, intent: bool = False
) -> Tensor:
    """[E] each interaction's strength (times its kind's ``INTENT`` weight with ``intent``),
    times ``0.5 ** (age / half_life)`` when a half-life is given (age from the latest time; an
    interaction without a time counts fully)."""
    strength = inputs.strength
    if intent and inputs.intent is not None:
        strength = strength * inputs.intent
    if half_life_days is not None and inputs.ts.numel() and bool((inputs.ts >= 0).any()):
        now = int(inputs.ts.max())
        age = (now - inputs.ts).clamp(min=0).double() / (half_life_days * DAY_MS)
        decay = torch.where(inputs.ts >= 0, torch.pow(0.5, age), torch.ones_like(age))
        strength = strength * decay.float()
    return strength


def own_interests(
    inputs: InterestInputs,
    *,
    half_life_days: float | None = None,
    intent: bool = False,
    chunk: int = 200_000,
) -> Tensor:
    """[U, K] un-normalised evidence: category mass of each user's interactions, each weighted
    by ``0.5 ** (age / half_life)`` when a half-life is given (age from the latest time; an
    interaction without a time counts fully)."""
    strength = evidence_strength(inputs, half_life_days, intent)
    own = torch.zeros(inputs.num_users, inputs.item_category.size(1))
    for lo in range(0, inputs.user.numel(), chunk):
        rows = slice(lo, lo + chunk)
        mass = inputs.item_category[inputs.item[rows]] * strength[rows, None]
        own.index_add_(0, inputs.user[rows], mass)
    return own


def normalise(x: Tensor) -> Tensor:
    return x / x.sum(1, keepdim=True).clamp(min=1e-12)


def popularity(own: Tensor) -> Tensor:
    """[1, K] the population's category distribution."""
    return normalise(own.sum(0, keepdim=True))


def social_interests(p: Tensor, inputs: InterestInputs) -> Tensor:
    """[U, K] the mean interests of the people each user follows."""
    return NeighbourMean.of(inputs.follow_dst, inputs.follow_src, inputs.num_users) @ p


def interest_scores(
    own: Tensor, inputs: InterestInputs, model: InterestModel, prior: Tensor | None = None
) -> Tensor:
    """[U, K] the profile's interest distributions (see the module docstring). ``prior``
    [1, K]: the population's distribution when ``inputs`` hold only part of it (an incremental
    run's neighbourhood: :func:`population_prior`); default the popularity in ``own``."""
    friends = social_interests(normalise(own), inputs)
    return normalise(own + model.social * friends + model.prior * popularity_or(own, prior))


def popularity_or(own: Tensor, prior: Tensor | None) -> Tensor:
    return popularity(own) if prior is None else prior


def population_shares(inputs: InterestInputs, model: InterestModel) -> dict[str, float]:
    """The whole population's category distribution (what a full run keeps for incremental
    runs), by category name."""
    own = own_interests(inputs, half_life_days=model.half_life_days, intent=model.intent)
    return dict(zip(inputs.categories, popularity(own).flatten().tolist(), strict=True))


def population_prior(shares: dict[str, float], categories: list[str]) -> Tensor | None:
    """[1, K] the population's shares of ``categories`` (a category the population had not
    seen: 0), renormalised; None without shares (a state from before they were kept)."""
    if not shares:
        return None
    return normalise(torch.tensor([[shares.get(name, 0.0) for name in categories]]))


def backoff(score: Tensor, own: Tensor) -> Tensor:
    """``score`` with ties and unscored categories ranked by popularity (a baseline's fair
    form: unbroken ties rank worse than random for users with little history)."""
    return normalise(score) + 1e-6 * popularity(own)


SOCIAL_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
PRIOR_GRID = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0)
HALF_LIFE_FRACTIONS = (0.25, 1 / 16, 1 / 64)  # of the data's time span: relative, so a nine-day
# shop and a six-year music site are searched alike


def half_life_grid(inputs: InterestInputs) -> tuple[float | None, ...]:
    """No recency weighting, or half-lives of a quarter, a sixteenth and a sixty-fourth of the
    span of the timestamped evidence (days)."""
    timed = inputs.ts[inputs.ts >= 0]
    if timed.numel() < 2:
        return (None,)
    # the middle 98 % of the times: a few stray early records do not stretch the scale
    low, high = torch.quantile(
        timed[:1_000_000].double(), torch.tensor([0.01, 0.99], dtype=torch.float64)
    )
    span_days = float(high - low) / DAY_MS
    if span_days <= 0:
        return (None,)
    return (None, *(span_days * f for f in HALF_LIFE_FRACTIONS))


def fit_interest_model(
    inputs: InterestInputs,
    target: Tensor,
    *,
    k: int = 10,
    social: tuple[float, ...] = SOCIAL_GRID,
    prior: tuple[float, ...] = PRIOR_GRID,
    half_life_days: tuple[float | None, ...] | None = None,
    max_users: int = VALID_USERS,
    seed: int = 0,
) -> tuple[InterestModel, dict[str, float]]:
    """The simplest grid point whose Recall@k on ``target`` ([2, T] (user, category column)
    pairs taken up after the time of ``inputs``) is within one standard error of the best
    point's (the one-standard-error rule; the error is that of the paired per-user difference):
    the model, and its validation Recall@k. The best point alone is whichever the noise of one
    validation split favoured (on held-out data it jumped between social 0.25 and 4.0 from cut
    to cut); the simplest near it is stable. Simpler: no purchase-intent weighting, no recency
    weighting, less weight on friends, less on popularity (:func:`_complexity`).

    The grid is scored on at most ``max_users`` of the users with a target (a seeded sample
    beyond that): choosing among the grid's points needs no more, and the search then costs
    the same at a million users as at twenty thousand (the own, friends' and popular parts are
    computed once per half-life and intent, for everyone; each point only mixes them).
    """
    identity = torch.eye(inputs.item_category.size(1))
    points: list[tuple[InterestModel, Tensor]] = []  # each point's per-user Recall@k
    lives = half_life_days if half_life_days is not None else half_life_grid(inputs)
    kinds = inputs.intent is not None and bool((inputs.intent != 1).any())
    scored = sample_users(target[0].unique(), max_users, seed)
    row = torch.full((inputs.num_users,), -1, dtype=torch.long)
    row[scored] = torch.arange(scored.numel())
    kept = row[target[0]] >= 0
    local_target = torch.stack([row[target[0, kept]], target[1, kept]])
    for half_life, intent in itertools.product(lives, (False, True) if kinds else (False,)):
        own = own_interests(inputs, half_life_days=half_life, intent=intent)
        friends = social_interests(normalise(own), inputs)[scored]
        common = popularity(own)
        mine = own[scored]
        for s in social:
            for a in prior:
                model = InterestModel(social=s, prior=a, half_life_days=half_life, intent=intent)
                score = normalise(mine + s * friends + a * common)  # interest_scores, sampled
                _, recall, _ = user_rank_metrics(score, identity, local_target, [], k=k)
                points.append((model, recall))
    means = torch.stack([recall.mean() for _, recall in points])
    top = int(torch.argmax(means))  # the first best point, as the grid is ordered
    best_recall = points[top][1]
    n = best_recall.numel()
    near = [
        (model, float(recall.mean()))
        for model, recall in points
        if float(best_recall.mean() - recall.mean())
        <= float((best_recall - recall).std()) / max(n, 1) ** 0.5 + 1e-12
    ]
    model, recall_mean = min(near, key=lambda point: _complexity(point[0]))
    return model, {
        f"valid_recall@{k}": recall_mean,
        f"best_valid_recall@{k}": float(means[top]),
        "valid_users": float(scored.numel()),
    }


def _complexity(model: InterestModel) -> tuple[bool, bool, float, float, float]:
    """The order of simplicity the one-standard-error rule picks by: fewer ingredients first,
    then less weight on friends and on popularity, then a longer memory."""
    life = model.half_life_days
    return (model.intent, life is not None, model.social, model.prior, -(life or 0.0))
