"""Top-N recommendations that mix exploitation with Thompson-sampled exploration.

**Exploitation.** Each item's score is the sum of the standardised scores of the rankers given
(the item ranking's user-item dot products, the sequence model's next-item scores): each row
is z-scored so neither scale dominates. Items the user already bought are never recommended
(a catalogue with re-purchasable items passes them in ``repurchasable``).

**Exploration.** A user's affinity to a category is a Beta posterior: uniform, plus
``prior_strength`` pseudo-actions split by the category's share among the people they follow
(plus a little of its overall share; the overall share alone for a user without friends); each
action of theirs in the
category is a success, and each earlier exploration slot of the category they did not act on
after being shown it is a failure. Categories the evidence is thin on (at most
``thin_actions`` actions of the user) are candidates; one draw from each candidate's posterior
picks the ``round(N * explore_share)`` explored categories (Thompson sampling), and each takes
the most popular item of the category among the user's friends (else overall) that the user has
not touched. Exploration slots sit evenly through the list (ranks N/e, 2N/e, ...).

Everything is batched tensors on the device: one [B, I] score block per batch of users.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

EXPLOIT, EXPLORE = 0, 1


@dataclass(frozen=True)
class RecommendConfig:
    n: int = 10
    explore_share: float = 0.2
    prior_strength: float = 2.0
    thin_actions: int = 1
    global_prior_weight: float = 0.1  # of the prior mean, from overall category shares
    seed: int = 0
    batch_size: int = 1024  # users per block, at most (see rows_per_block)
    max_block_floats: int = 1 << 26  # a block holds several [users, items] tensors

    def rows_per_block(self, n_items: int) -> int:
        """Users per [B, items] block: ``batch_size``, fewer for a large catalogue."""
        return max(1, min(self.batch_size, self.max_block_floats // max(1, n_items)))

    def __post_init__(self) -> None:
        if self.n < 1 or not 0 <= self.explore_share <= 1 or self.prior_strength <= 0:
            raise ValueError(
                "RecommendConfig needs n >= 1, 0 <= explore_share <= 1, prior_strength > 0; got "
                f"n={self.n}, explore_share={self.explore_share}, "
                f"prior_strength={self.prior_strength}"
            )

    @property
    def explore_slots(self) -> int:
        return round(self.n * self.explore_share)


@dataclass(frozen=True)
class Evidence:
    """What the posterior and the reasons read, per user (rows) and category / item.

    ``actions`` [U, C]: the user's actions per category; ``friend_share`` [U, C]: the category
    mix of their followees' actions (rows sum to 1 or 0); ``shown`` [U, C]: exploration slots
    of the category shown earlier and not acted on after; ``touched`` [U, I] bool: items the
    user acted on; ``bought`` [U, I] bool; ``friend_items`` [U, I]: followees who acted on the
    item; ``item_category`` [I]; ``item_popularity`` [I]."""

    actions: Tensor
    friend_share: Tensor
    shown: Tensor
    touched: Tensor
    bought: Tensor
    friend_items: Tensor
    item_category: Tensor
    item_popularity: Tensor


@dataclass(frozen=True)
class Recommendations:
    """[U, N] per slot: ``item`` (-1 empty), ``score``, ``kind`` (EXPLOIT / EXPLORE) and the
    evidence for the reason: ``friends`` (followees who acted on it), ``own`` (the user's
    actions in its category), ``category`` (its category, -1 unknown)."""

    item: Tensor
    score: Tensor
    kind: Tensor
    friends: Tensor
    own: Tensor
    category: Tensor


@dataclass(frozen=True)
class _Rows:
    """Pairs (user, value[, weight]) sorted by user, with a per-user pointer."""

    ptr: Tensor  # [U + 1]
    value: Tensor
    weight: Tensor

    @classmethod
    def of(cls, user: Tensor, value: Tensor, weight: Tensor, n_users: int) -> _Rows:
        order = torch.argsort(user, stable=True)
        counts = torch.bincount(user, minlength=n_users)
        ptr = torch.zeros(n_users + 1, dtype=torch.long)
        ptr[1:] = torch.cumsum(counts, 0)
        return cls(ptr, value[order].long(), weight[order].float())

    def block(self, users: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(row in ``users``, value, weight) of every pair of ``users``."""
        lo, hi = self.ptr[users], self.ptr[users + 1]
        n = hi - lo
        row = torch.repeat_interleave(torch.arange(users.numel()), n)
        index = (
            torch.repeat_interleave(lo, n)
            + torch.arange(int(n.sum()))
            - torch.repeat_interleave(torch.cumsum(n, 0) - n, n)
        )
        return row, self.value[index], self.weight[index]

    def dense(self, users: Tensor, size: int) -> Tensor:
        row, value, weight = self.block(users)
        out = torch.zeros(users.numel(), size)
        out.index_put_((row, value), weight, accumulate=True)
        return out


@dataclass(frozen=True)
class EvidenceSource:
    """The whole population's evidence, sparse; :meth:`rows` builds one batch's dense
    :class:`Evidence`.

    ``items``: each user's (item, bought) pairs; ``categories``: each user's action counts per
    category; ``follows``: each user's followees; ``shown``: each user's unanswered exploration
    slots per category."""

    items: _Rows
    bought: _Rows
    categories: _Rows
    follows: _Rows
    shown: _Rows
    item_category: Tensor
    item_popularity: Tensor
    num_categories: int

    @classmethod
    def build(
        cls,
        *,
        pairs: Tensor,
        bought: Tensor,
        category_counts: tuple[Tensor, Tensor, Tensor],
        follows: tuple[Tensor, Tensor],
        shown: tuple[Tensor, Tensor, Tensor],
        item_category: Tensor,
        num_users: int,
        num_categories: int,
    ) -> EvidenceSource:
        """``pairs`` [2, E] distinct (user, item) acted on; ``bought`` [2, B] bought pairs;
        ``category_counts`` and ``shown``: (user, category, count); ``follows``: (src, dst)."""
        n_items = item_category.numel()
        ones = torch.ones(pairs.size(1))
        return cls(
            items=_Rows.of(pairs[0], pairs[1], ones, num_users),
            bought=_Rows.of(bought[0], bought[1], torch.ones(bought.size(1)), num_users),
            categories=_Rows.of(*category_counts, num_users),
            follows=_Rows.of(follows[0], follows[1], torch.ones(follows[0].numel()), num_users),
            shown=_Rows.of(*shown, num_users),
            item_category=item_category,
            item_popularity=torch.bincount(pairs[1], minlength=n_items).float(),
            num_categories=num_categories,
        )

    def rows(self, users: Tensor) -> Evidence:
        n_items, n_c = self.item_category.numel(), self.num_categories
        actions = self.categories.dense(users, n_c)
        f_row, friend, _ = self.follows.block(users)
        friend_items = torch.zeros(users.numel(), n_items)
        friend_share = torch.zeros(users.numel(), n_c)
        if friend.numel():
            i_row, item, w = self.items.block(friend)
            friend_items.index_put_((f_row[i_row], item), w, accumulate=True)
            c_row, cat, count = self.categories.block(friend)
            totals = torch.zeros(friend.numel()).index_add_(0, c_row, count).clamp_min(1)
            friend_share.index_put_((f_row[c_row], cat), count / totals[c_row], accumulate=True)
            degree = torch.bincount(f_row, minlength=users.numel()).clamp_min(1)
            friend_share /= degree.unsqueeze(1)
        return Evidence(
            actions=actions,
            friend_share=friend_share,
            shown=self.shown.dense(users, n_c),
            touched=self.items.dense(users, n_items) > 0,
            bought=self.bought.dense(users, n_items) > 0,
            friend_items=friend_items,
            item_category=self.item_category,
            item_popularity=self.item_popularity,
        )


def posterior(evidence: Evidence, config: RecommendConfig) -> tuple[Tensor, Tensor]:
    """Beta(alpha, beta) [U, C] of each user's affinity to each category."""
    overall = evidence.actions.sum(0)
    overall = overall / overall.sum().clamp_min(1)
    w = config.global_prior_weight
    prior = (1 - w) * evidence.friend_share + w * overall.unsqueeze(0)
    has_friends = evidence.friend_share.sum(1, keepdim=True) > 0
    prior = torch.where(has_friends, prior, overall.unsqueeze(0))
    prior = prior.clamp(1e-6, 1 - 1e-6)
    alpha = 1 + config.prior_strength * prior + evidence.actions
    beta = 1 + config.prior_strength * (1 - prior) + evidence.shown
    return alpha, beta


def explore_categories(
    evidence: Evidence, config: RecommendConfig, generator: torch.Generator
) -> Tensor:
    """[U, e] Thompson-sampled categories on thin evidence (-1 when a user has fewer)."""
    e = config.explore_slots
    n_users = evidence.actions.size(0)
    if e == 0:
        return torch.full((n_users, 0), -1, dtype=torch.long)
    alpha, beta = posterior(evidence, config)
    draw = _beta_sample(alpha, beta, generator)
    thin = evidence.actions <= config.thin_actions
    has_items = torch.zeros(evidence.actions.size(1), dtype=torch.bool)
    known = evidence.item_category >= 0
    has_items[evidence.item_category[known]] = True
    draw = torch.where(thin & has_items.unsqueeze(0), draw, torch.full_like(draw, -1.0))
    top = draw.topk(min(e, draw.size(1)), dim=1)
    return torch.where(top.values >= 0, top.indices, -1)


def _beta_sample(alpha: Tensor, beta: Tensor, generator: torch.Generator) -> Tensor:
    """One Beta draw per entry, through two Gamma draws (seeded: torch's Beta takes no
    generator)."""
    x = torch._standard_gamma(alpha.double(), generator=generator)
    y = torch._standard_gamma(beta.double(), generator=generator)
    return (x / (x + y).clamp_min(1e-300)).float()


def _zscore(scores: Tensor) -> Tensor:
    mean = scores.mean(1, keepdim=True)
    std = scores.std(1, keepdim=True).clamp_min(1e-9)
    return (scores - mean) / std


def recommend(
    exploit_scores: list[Tensor],
    evidence: Evidence,
    config: RecommendConfig = RecommendConfig(),
    *,
    repurchasable: Tensor | None = None,
    explore: Tensor | None = None,
) -> Recommendations:
    """The lists for every user row (see the module docstring). ``exploit_scores``: [U, I]
    each; ``explore`` [U, e] overrides the sampled categories (e.g. random exploration, the
    evaluation's comparison)."""
    n_users, n_items = evidence.touched.shape
    generator = torch.Generator().manual_seed(config.seed)
    chosen = explore if explore is not None else explore_categories(evidence, config, generator)
    e, n = chosen.size(1), config.n
    blocked = evidence.bought.clone()
    if repurchasable is not None:
        blocked &= ~repurchasable.unsqueeze(0)
    score = sum((_zscore(s.float()) for s in exploit_scores), torch.zeros(n_users, n_items))
    score = score.masked_fill(blocked, float("-inf"))
    items = torch.full((n_users, n), -1, dtype=torch.long)
    scores = torch.full((n_users, n), float("nan"))
    kinds = torch.full((n_users, n), EXPLOIT, dtype=torch.long)
    explore_rank = [((j + 1) * n) // e - 1 for j in range(e)] if e else []
    # exploration items first (they must not repeat an exploit pick of the same list)
    picked = torch.zeros(n_users, n_items, dtype=torch.bool)
    pop = evidence.item_popularity.float()
    for j, rank in enumerate(explore_rank):
        cat = chosen[:, j]
        in_cat = evidence.item_category.unsqueeze(0) == cat.unsqueeze(1)
        candidate = in_cat & ~evidence.touched & ~blocked & ~picked & (cat >= 0).unsqueeze(1)
        appeal = evidence.friend_items.float() * (pop.max() + 1) + pop.unsqueeze(0)
        appeal = appeal.masked_fill(~candidate, -1.0)
        best = appeal.max(1)
        ok = best.values >= 0
        rows = torch.nonzero(ok).flatten()
        items[rows, rank] = best.indices[ok]
        scores[rows, rank] = score[rows, best.indices[ok]]
        kinds[rows, rank] = EXPLORE
        picked[rows, best.indices[ok]] = True
    free = kinds == EXPLOIT
    free |= items < 0  # an exploration slot without a candidate goes back to exploitation
    kinds[items < 0] = EXPLOIT
    ranked = score.masked_fill(picked, float("-inf")).topk(n, dim=1)
    slots = free.cumsum(1) - 1  # the k-th free slot takes the k-th best exploit item
    take = ranked.indices.gather(1, slots.clamp_min(0))
    take_score = ranked.values.gather(1, slots.clamp_min(0))
    items = torch.where(free, take, items)
    scores = torch.where(free, take_score, scores)
    items = torch.where(torch.isinf(scores) & free, -1, items)
    safe = items.clamp_min(0)
    rows = torch.arange(n_users).unsqueeze(1)
    category = torch.where(items >= 0, evidence.item_category[safe], -1)
    own = torch.where(
        category >= 0, evidence.actions.gather(1, category.clamp_min(0)), torch.zeros(())
    )
    return Recommendations(
        item=items,
        score=scores,
        kind=kinds,
        friends=torch.where(items >= 0, evidence.friend_items[rows, safe], 0).long(),
        own=own.long(),
        category=category,
    )


def reason(kind: int, friends: int, own: int, category: str | None, friend_share: float) -> str:
    """The sentence a person reads for one slot."""
    if kind == EXPLORE:
        who = (
            f"liked by {friends} {'person' if friends == 1 else 'people'} you follow"
            if friends
            else f"{friend_share:.0%} of what people you follow do"
            if friend_share > 0
            else "popular with people like you"
        )
        return f"explore: {category or 'a category'} is new for you, {who}"
    if friends:
        return f"{friends} {'person' if friends == 1 else 'people'} you follow acted on it"
    if own and category:
        return f"you acted on {own} item{'s' if own != 1 else ''} in {category}"
    return "scored high for your recent activity"
