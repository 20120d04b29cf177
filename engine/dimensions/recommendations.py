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

Everything is batched tensors. The scores over the whole catalogue are one [B, I] block per
batch of users (one matrix product for all rankers, :mod:`engine.models.linear_scores`, on the
device
when there is one); the lists are then picked from a few candidate columns per user
(:meth:`EvidenceSource.lists`: the best ``n + e`` items, and each explored category's
followees' items and most popular items), which give the lists :func:`recommend` gives over
every item (tested) without [B, I] blocks of evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
    """What the posterior and the reasons read, per user (rows) and category / item column.

    ``actions`` [U, C]: the user's actions per category; ``friend_share`` [U, C]: the category
    mix of their followees' actions (rows sum to 1 or 0); ``shown`` [U, C]: exploration slots
    of the category shown earlier and not acted on after; ``touched`` [U, M] bool: items the
    user acted on; ``bought`` [U, M] bool; ``friend_items`` [U, M]: followees who acted on the
    item; ``item_category`` [I]; ``item_popularity`` [I]. ``columns`` [U, M]: the item of each
    column (-1: none), each row's in ascending item order; None: every item, column = item."""

    actions: Tensor
    friend_share: Tensor
    shown: Tensor
    touched: Tensor
    bought: Tensor
    friend_items: Tensor
    item_category: Tensor
    item_popularity: Tensor
    columns: Tensor | None = None

    def items(self) -> Tensor:
        """[U, M] the item of each column (-1: none)."""
        if self.columns is not None:
            return self.columns
        n_items = self.item_category.numel()
        return torch.arange(n_items).expand(self.actions.size(0), n_items)


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

    def at(self, users: Tensor, columns: Tensor) -> Tensor:
        """[len(users), M] the summed weight of each row's pairs whose value is the column's
        (0 where none, and for a -1 column)."""
        return weight_at(*self.block(users), columns)


def weight_at(row: Tensor, value: Tensor, weight: Tensor, columns: Tensor) -> Tensor:
    """[B, M] the summed ``weight`` of the pairs (``row``, ``value``) at each row's ``columns``
    (values >= 0; a -1 column reads 0): a sparse lookup, never a [B, values] block."""
    out = torch.zeros(columns.shape)
    if not row.numel():
        return out
    width = int(max(int(value.max()), int(columns.max()))) + 1
    keys, inverse = torch.unique(row * width + value, return_inverse=True)
    sums = torch.zeros(keys.numel()).index_add_(0, inverse, weight.float())
    query = torch.arange(columns.size(0)).unsqueeze(1) * width + columns
    at = torch.searchsorted(keys, query).clamp(max=keys.numel() - 1)
    found = (keys[at] == query) & (columns >= 0)
    return torch.where(found, sums[at], out)


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
    by_popularity: _Rows  # each category's items, most popular first (ties: lower id first)

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
        popularity = torch.bincount(pairs[1], minlength=n_items).float()
        order = torch.argsort(-popularity, stable=True)
        categorised = order[item_category[order] >= 0]
        return cls(
            items=_Rows.of(pairs[0], pairs[1], ones, num_users),
            bought=_Rows.of(bought[0], bought[1], torch.ones(bought.size(1)), num_users),
            categories=_Rows.of(*category_counts, num_users),
            follows=_Rows.of(follows[0], follows[1], torch.ones(follows[0].numel()), num_users),
            shown=_Rows.of(*shown, num_users),
            item_category=item_category,
            item_popularity=popularity,
            num_categories=num_categories,
            by_popularity=_Rows.of(
                item_category[categorised],
                categorised,
                popularity[categorised],
                num_categories,
            ),
        )

    def rows(self, users: Tensor, columns: Tensor | None = None) -> Evidence:
        """The evidence of ``users``, at ``columns`` [B, M] (items, each row ascending, -1
        none; see :meth:`lists`) or, without them, at every item ([B, I])."""
        return self._at(*self._categories(users), users, columns)

    def lists(
        self, users: Tensor, score: Tensor, config: RecommendConfig
    ) -> tuple[Recommendations, Evidence]:
        """The lists of ``users`` from their exploit ``score`` [B, I] over every item (on any
        device; modified in place: bought items set to -inf), computed on candidate columns
        only: the same lists as :func:`recommend` on every item, without [B, I] evidence
        blocks; and the evidence they read (on those columns)."""
        row, item, _ = self.bought.block(users)
        score[row.to(score.device), item.to(score.device)] = float("-inf")
        evidence, friend_pairs = self._categories(users)
        generator = torch.Generator().manual_seed(config.seed)
        chosen = explore_categories(evidence, config, generator)
        columns = self._candidate_columns(users, score, chosen, config, friend_pairs[:2])
        evidence = self._at(evidence, friend_pairs, users, columns)
        at_columns = score.gather(1, columns.clamp_min(0).to(score.device)).cpu()
        picks = recommend(at_columns, evidence, config, explore=chosen)
        return picks, evidence

    def _categories(self, users: Tensor) -> tuple[Evidence, tuple[Tensor, Tensor, Tensor]]:
        """The per-category evidence of ``users`` (no item columns yet), and the (row, item,
        weight) pairs of their followees' items for :meth:`_at`."""
        n_c = self.num_categories
        f_row, friend, _ = self.follows.block(users)
        friend_share = torch.zeros(users.numel(), n_c)
        friend_pairs = (f_row[:0], f_row[:0], torch.zeros(0))
        if friend.numel():
            i_row, item, w = self.items.block(friend)
            friend_pairs = (f_row[i_row], item, w)
            c_row, cat, count = self.categories.block(friend)
            totals = torch.zeros(friend.numel()).index_add_(0, c_row, count).clamp_min(1)
            friend_share.index_put_((f_row[c_row], cat), count / totals[c_row], accumulate=True)
            degree = torch.bincount(f_row, minlength=users.numel()).clamp_min(1)
            friend_share /= degree.unsqueeze(1)
        empty = torch.zeros(users.numel(), 0, dtype=torch.bool)
        evidence = Evidence(
            actions=self.categories.dense(users, n_c),
            friend_share=friend_share,
            shown=self.shown.dense(users, n_c),
            touched=empty,
            bought=empty,
            friend_items=empty.float(),
            item_category=self.item_category,
            item_popularity=self.item_popularity,
        )
        return evidence, friend_pairs

    def _at(
        self,
        evidence: Evidence,
        friend_pairs: tuple[Tensor, Tensor, Tensor],
        users: Tensor,
        columns: Tensor | None,
    ) -> Evidence:
        """``evidence`` with its item columns filled (every item without ``columns``)."""
        n_items = self.item_category.numel()
        f_row, f_item, f_weight = friend_pairs
        if columns is None:
            friend_items = torch.zeros(users.numel(), n_items)
            friend_items.index_put_((f_row, f_item), f_weight, accumulate=True)
            touched = self.items.dense(users, n_items) > 0
            bought = self.bought.dense(users, n_items) > 0
        else:
            friend_items = weight_at(f_row, f_item, f_weight, columns)
            touched = self.items.at(users, columns) > 0
            bought = self.bought.at(users, columns) > 0
        return replace(
            evidence,
            touched=touched,
            bought=bought,
            friend_items=friend_items,
            columns=columns,
        )

    def _candidate_columns(
        self,
        users: Tensor,
        score: Tensor,
        chosen: Tensor,
        config: RecommendConfig,
        friend_items: tuple[Tensor, Tensor],
    ) -> Tensor:
        """[B, M] every item the lists of ``users`` can take, each row ascending (-1 pads):
        the best ``n + e`` by ``score`` [B, I] (bought items already at -inf), and in each
        explored category (``chosen`` [B, e]) every followee's item (``friend_items``: (row,
        item) pairs) and its most popular items, as many as the row can skip. :func:`recommend`
        on these columns gives the lists it gives on every item."""
        b = users.numel()
        parts = [score.topk(min(config.n + chosen.size(1), score.size(1)), dim=1).indices.cpu()]
        if chosen.size(1):
            parts += [self._popular_in(users, chosen), self._in_explored(friend_items, chosen)]
        columns = torch.cat(parts, dim=1).sort(dim=1).values
        repeat = torch.zeros_like(columns, dtype=torch.bool)
        repeat[:, 1:] = columns[:, 1:] == columns[:, :-1]
        columns = columns.masked_fill(repeat | (columns < 0), self.item_category.numel())
        columns = columns.sort(dim=1).values
        width = int((columns < self.item_category.numel()).sum(1).max()) if b else 0
        columns = columns[:, : max(width, 1)]
        return columns.masked_fill(columns >= self.item_category.numel(), -1)

    def _popular_in(self, users: Tensor, chosen: Tensor) -> Tensor:
        """[B, e * P]: each explored category's P most popular items, P one more than the
        items the row may have to skip there (touched, bought, picked by the other slots)."""
        b, e = chosen.shape
        skip = torch.zeros(b, self.num_categories)
        for pairs in (self.items, self.bought):
            row, item, _ = pairs.block(users)
            cat = self.item_category[item]
            keep = cat >= 0
            skip.index_put_((row[keep], cat[keep]), torch.ones(int(keep.sum())), accumulate=True)
        safe = chosen.clamp_min(0)
        if not self.by_popularity.value.numel():
            return torch.full((b, 0), -1, dtype=torch.long)
        need = int(skip.gather(1, safe).max()) if b else 0
        depth = need + e + 1
        lo, hi = self.by_popularity.ptr[safe], self.by_popularity.ptr[safe + 1]
        at = lo.unsqueeze(-1) + torch.arange(depth)
        ok = (at < hi.unsqueeze(-1)) & (chosen >= 0).unsqueeze(-1)
        items = self.by_popularity.value[at.clamp(max=self.by_popularity.value.numel() - 1)]
        return torch.where(ok, items, -1).reshape(b, e * depth)

    def _in_explored(self, pairs: tuple[Tensor, Tensor], chosen: Tensor) -> Tensor:
        """[B, F]: the items of the (row, item) ``pairs`` in the row's explored categories
        (-1 pads)."""
        b = chosen.size(0)
        row, item = pairs
        cat = self.item_category[item]
        keep = ((chosen[row] == cat.unsqueeze(1)) & (cat >= 0).unsqueeze(1)).any(1)
        row, item = row[keep], item[keep]
        counts = torch.bincount(row, minlength=b)
        out = torch.full((b, int(counts.max()) if row.numel() else 0), -1, dtype=torch.long)
        if row.numel():
            order = torch.argsort(row, stable=True)
            row, item = row[order], item[order]
            start = torch.cumsum(counts, 0) - counts
            out[row, torch.arange(row.numel()) - start[row]] = item
        return out


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


def standardised_sum(scores: list[Tensor]) -> Tensor:
    """[U, I] the sum of each ranker's row-standardised scores (each [U, I])."""
    total = torch.zeros_like(scores[0], dtype=torch.float32)
    for s in scores:
        s = s.float()
        std, mean = torch.std_mean(s, dim=1, keepdim=True)
        total += (s - mean) / std.clamp_min(1e-9)
    return total


def recommend(
    score: Tensor,
    evidence: Evidence,
    config: RecommendConfig = RecommendConfig(),
    *,
    repurchasable: Tensor | None = None,
    explore: Tensor | None = None,
) -> Recommendations:
    """The lists for every user row (see the module docstring). ``score`` [U, M]: the exploit
    score of each of the evidence's columns (:func:`standardised_sum` of the rankers; a
    column without an item is never taken); ``explore`` [U, e] overrides the sampled
    categories (e.g. random exploration, the evaluation's comparison)."""
    items = evidence.items()
    n_users, n_columns = items.shape
    generator = torch.Generator().manual_seed(config.seed)
    chosen = explore if explore is not None else explore_categories(evidence, config, generator)
    e, n = chosen.size(1), config.n
    real = items >= 0
    safe_items = items.clamp_min(0)
    blocked = evidence.bought | ~real
    if repurchasable is not None:
        blocked &= ~(repurchasable[safe_items] & real)
    score = score.float().masked_fill(blocked, float("-inf"))
    column_category = torch.where(real, evidence.item_category[safe_items], -1)
    pop = evidence.item_popularity.float()
    appeal = evidence.friend_items.float() * (pop.max() + 1) + pop[safe_items]
    slot_column = torch.full((n_users, n), -1, dtype=torch.long)
    scores = torch.full((n_users, n), float("nan"))
    kinds = torch.full((n_users, n), EXPLOIT, dtype=torch.long)
    explore_rank = [((j + 1) * n) // e - 1 for j in range(e)] if e else []
    # exploration items first (they must not repeat an exploit pick of the same list)
    picked = torch.zeros(n_users, n_columns, dtype=torch.bool)
    for j, rank in enumerate(explore_rank):
        cat = chosen[:, j]
        candidate = (column_category == cat.unsqueeze(1)) & (cat >= 0).unsqueeze(1)
        candidate &= ~evidence.touched & ~blocked & ~picked
        best = appeal.masked_fill(~candidate, -1.0).max(1)
        ok = best.values >= 0
        rows = torch.nonzero(ok).flatten()
        slot_column[rows, rank] = best.indices[ok]
        scores[rows, rank] = score[rows, best.indices[ok]]
        kinds[rows, rank] = EXPLORE
        picked[rows, best.indices[ok]] = True
    free = kinds == EXPLOIT
    free |= slot_column < 0  # an exploration slot without a candidate goes back to exploitation
    kinds[slot_column < 0] = EXPLOIT
    ranked = score.masked_fill(picked, float("-inf")).topk(min(n, n_columns), dim=1)
    slots = (free.cumsum(1) - 1).clamp(0, ranked.indices.size(1) - 1)
    # the k-th free slot takes the k-th best exploit item
    slot_column = torch.where(free, ranked.indices.gather(1, slots), slot_column)
    scores = torch.where(free, ranked.values.gather(1, slots), scores)
    if n > n_columns:  # fewer columns than slots: the last free slots stay empty
        free_rank = free.cumsum(1) - 1
        scores = torch.where(free & (free_rank >= n_columns), float("-inf"), scores)
    slot_column = torch.where(torch.isinf(scores) & free, -1, slot_column)
    column = slot_column.clamp_min(0)
    filled = slot_column >= 0
    chosen_items = torch.where(filled, items.gather(1, column), -1)
    category = torch.where(filled, column_category.gather(1, column), -1)
    own = torch.where(
        category >= 0, evidence.actions.gather(1, category.clamp_min(0)), torch.zeros(())
    )
    friends = torch.where(filled, evidence.friend_items.gather(1, column), 0)
    return Recommendations(
        item=chosen_items,
        score=scores,
        kind=kinds,
        friends=friends.long(),
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
