"""Next behaviour: a GRU over each user's actions (GRU4Rec style), fused with friends' tastes.

Each step reads the action's item, category and kind embeddings and a bucket of the time since
the previous action. The state after a user's latest action predicts, through four heads:

- the next action's **category** (softmax over all categories, scored against the category
  embeddings the input reads: the input and output tables are tied),
- the next **item** (sampled softmax against shared uniform negatives while training; every
  item when scoring),

both with a **repeat term** (as in RepeatNet): a state-dependent weight times log(1 + how often
the user acted on the category / item so far), and another times "it was the latest one";
people repeat themselves, and a softmax over embeddings alone learns that slowly,
- the next action's **kind** (view, cart, purchase, ...),
- the **hours to the next action** (regression on log1p hours).

**Social fusion.** A user's friends are the users they follow. Their actions' category mix
(the ``social_topk`` largest shares, from the same actions the model trains on, so nothing
after a cut leaks in) is read through the model's own category embeddings and gated into the
state, ``h + sigmoid(W [h; s]) * tanh(V s)``, and a state-dependent weight times the friends'
share of each category joins the category scores. A user with a short history leans on it; a user
without actions gets a prediction from it alone. ``social=False`` is the same model without it
(the ablation the evaluation reports).

Training: next-step prediction at the last ``train_positions`` positions of each user's latest
``length`` actions,
Adam, early stopping on each user's last action held out (the parameters of the best
validation epoch are kept), deterministic under a seed on the CPU.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from engine.device import pick_device
from engine.evaluation.metrics import sample_users
from engine.models.schedule import Schedule
from engine.sequences import Sequences

# Bucket bounds (hours) of the time since the previous action: a minute, an hour, a day, ...
GAP_BOUNDS_HOURS = (1 / 60, 0.25, 1.0, 3.0, 12.0, 24.0, 72.0, 168.0, 720.0)


MIX_BLOCK = 131_072  # followers whose friends' category mix is computed at once
ITEM_BLOCK_FLOATS = 1 << 24  # [rows, items] next-item scores ranked at once (64 MiB)


@dataclass(frozen=True)
class SequenceConfig(Schedule):
    """The sequence model's schedule and shape; the defaults are the refresh's (core.settings
    NextSettings, via jobs.recipe)."""

    length: int = 50
    dim: int = 64
    lr: float = 3e-3
    batch_size: int = 256
    # the loss reads the last this-many positions of each user's sequence (all of it feeds
    # the state): the category softmax is most of the cost
    train_positions: int = 16
    # a batch's category scores ([B, L, C]) stay under this many floats: B shrinks for a
    # large category set
    max_batch_floats: int = 1 << 25
    max_epochs: int = 20
    patience: int = 4
    item_negatives: int = 256
    social: bool = True
    social_topk: int = 32
    dropout: float = 0.2
    weight_decay: float = 1e-6
    # no new batch starts past this many seconds (the epoch then ends and is validated)
    time_budget_s: float | None = 90.0

    COUNTS: ClassVar[tuple[str, ...]] = (
        "length",
        "dim",
        "batch_size",
        "train_positions",
        "max_epochs",
        "item_negatives",
        "social_topk",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.dropout < 1:
            raise ValueError(f"SequenceConfig.dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class SocialMix:
    """Per user, the ``k`` categories most common among their friends' actions: ``category``
    [U, k] ids + 1 (0 = none) and ``share`` [U, k] (each row sums to 1, or 0 without friends)."""

    category: Tensor
    share: Tensor

    def rows(self, users: Tensor) -> SocialMix:
        return SocialMix(self.category[users], self.share[users])

    def to(self, device: torch.device) -> SocialMix:
        return SocialMix(self.category.to(device), self.share.to(device))


def friend_category_mix(
    sequences: Sequences, follows: tuple[Tensor, Tensor], num_categories: int, k: int
) -> SocialMix:
    """The category mix of each user's followees' actions in ``sequences``, a block of
    ``MIX_BLOCK`` followers at a time (the product's transient stays bounded)."""
    n_users = sequences.num_users
    c = max(num_categories, 1)
    real = sequences.category > 0
    users = torch.arange(n_users).unsqueeze(1).expand_as(real)[real]
    pair, count = torch.unique(users * c + sequences.category[real] - 1, return_counts=True)
    del users, real
    owner = pair // c
    totals = torch.bincount(owner, weights=count.float(), minlength=n_users).float()
    # each followee's histogram, row-normalised
    own_norm = torch.sparse_coo_tensor(
        torch.stack([owner, pair % c]), count.float() / totals[owner], (n_users, c)
    ).coalesce()
    del pair, count, owner
    src, dst = follows
    order = torch.argsort(src, stable=True)
    src, dst = src[order], dst[order]
    degree = torch.bincount(src, minlength=n_users).clamp_min(1).float()
    category = torch.zeros(n_users, k, dtype=torch.long)
    share = torch.zeros(n_users, k)
    edges = torch.searchsorted(src, torch.arange(0, n_users + MIX_BLOCK, MIX_BLOCK)).tolist()
    for lo, (a, b) in zip(range(0, n_users, MIX_BLOCK), itertools.pairwise(edges), strict=False):
        size = min(MIX_BLOCK, n_users - lo)
        follow = torch.sparse_coo_tensor(
            torch.stack([src[a:b] - lo, dst[a:b]]), 1.0 / degree[src[a:b]], (size, n_users)
        ).coalesce()
        mix = torch.sparse.mm(follow, own_norm).coalesce()  # [block, C], average over followees
        if not mix._nnz():
            continue
        rows, cols, values = mix.indices()[0], mix.indices()[1], mix.values()
        # per row, the k largest: sort by (row, -value) and keep each row's first k
        by = torch.argsort(-values, stable=True)
        by = by[torch.argsort(rows[by], stable=True)]
        rows, cols, values = rows[by], cols[by], values[by]
        counts = torch.bincount(rows, minlength=size)
        rank = torch.arange(rows.numel()) - (torch.cumsum(counts, 0) - counts)[rows]
        top = rank < k
        category[rows[top] + lo, rank[top]] = cols[top] + 1
        share[rows[top] + lo, rank[top]] = values[top]
    share = share / share.sum(dim=1, keepdim=True).clamp_min(1e-12)
    return SocialMix(category, share)


def gap_buckets(sequences: Sequences) -> Tensor:
    """[U, L] bucket id + 1 of each action's time since the previous one (0 = padding/unknown)."""
    bounds = torch.tensor(GAP_BOUNDS_HOURS, dtype=torch.float64)
    bucket = torch.bucketize(sequences.gaps_hours(), bounds) + 1
    return torch.where(sequences.ts >= 0, bucket, 0)


class NextBehaviourModel(nn.Module):
    def __init__(
        self,
        num_items: int,
        num_categories: int,
        num_kinds: int,
        dim: int,
        *,
        social: bool,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.item = nn.Embedding(num_items + 1, dim, padding_idx=0)
        self.category = nn.Embedding(num_categories + 1, dim, padding_idx=0)
        self.kind = nn.Embedding(num_kinds + 1, dim, padding_idx=0)
        self.gap = nn.Embedding(len(GAP_BOUNDS_HOURS) + 2, dim, padding_idx=0)
        self.gru = nn.GRU(dim, dim, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.social = social
        self.social_value = nn.Linear(dim, dim)
        self.social_gate = nn.Linear(2 * dim, dim)
        self.category_bias = nn.Parameter(torch.zeros(num_categories))
        self.item_bias = nn.Parameter(torch.zeros(num_items))
        # weights of the repeat terms (count, latest) and of the friends' share
        self.category_repeat = nn.Linear(dim, 3)
        self.item_repeat = nn.Linear(dim, 2)
        self.kind_head = nn.Linear(dim, num_kinds)
        self.gap_head = nn.Linear(dim, 1)
        for table in (self.item, self.category, self.kind, self.gap):
            nn.init.normal_(table.weight, std=0.1)
            with torch.no_grad():
                table.weight[0].zero_()

    @property
    def num_categories(self) -> int:
        return int(self.category_bias.numel())

    @property
    def num_items(self) -> int:
        return int(self.item_bias.numel())

    def states(self, item: Tensor, category: Tensor, kind: Tensor, gap: Tensor) -> Tensor:
        """[B, L, D] the state after each action."""
        x = self.item(item) + self.category(category) + self.kind(kind) + self.gap(gap)
        out, _ = self.gru(self.dropout(x))
        return out

    def fuse(self, h: Tensor, mix: SocialMix | None) -> Tensor:
        """``h`` [B, ..., D] with each row's friends' mix gated in (unchanged without social)."""
        if not self.social or mix is None:
            return h
        s = (self.category(mix.category) * mix.share.unsqueeze(-1)).sum(dim=1)  # [B, D]
        while s.dim() < h.dim():
            s = s.unsqueeze(1)
        s = s.expand_as(h)
        gate = torch.sigmoid(self.social_gate(torch.cat([h, s], dim=-1)))
        return h + gate * torch.tanh(self.social_value(s))

    def category_logits(
        self, h: Tensor, counts: Tensor, latest: Tensor, friends: Tensor | None
    ) -> Tensor:
        """[..., C] from the state, the user's category counts so far and their latest category
        (one-hot), and (social) the friends' category shares, all [..., C]."""
        w = nn.functional.softplus(self.category_repeat(h))
        out = h @ self.category.weight[1:].T + self.category_bias
        out = out + w[..., :1] * torch.log1p(counts) + w[..., 1:2] * latest
        if self.social and friends is not None:
            out = out + w[..., 2:3] * friends * 10.0
        return out

    def sampled_item_logits(
        self, h: Tensor, targets: Tensor, negatives: Tensor, counts: Tensor, latest: Tensor
    ) -> Tensor:
        """[N, 1 + M]: each row's target item, then the shared ``negatives`` [M] (ids, no
        shift); ``counts`` and ``latest`` have the same shape."""
        target = (h * self.item(targets + 1)).sum(-1) + self.item_bias[targets]
        shared = h @ self.item(negatives + 1).T + self.item_bias[negatives]
        return self._repeat(h, torch.cat([target.unsqueeze(1), shared], 1), counts, latest)

    def _repeat(self, h: Tensor, scores: Tensor, counts: Tensor, latest: Tensor) -> Tensor:
        return scores + self.repeat_bonus(h, counts, latest)

    def repeat_bonus(self, h: Tensor, counts: Tensor, latest: Tensor) -> Tensor:
        """[N, M] what an item's score gains from the user's own actions on it: ``counts`` and
        ``latest`` (1 for the latest item) [N, M] for the states ``h`` [N, D]."""
        w = nn.functional.softplus(self.item_repeat(h))
        return w[:, :1] * torch.log1p(counts) + w[:, 1:2] * latest


@dataclass
class SequenceModel:
    """A trained model and the configuration it was trained with."""

    model: NextBehaviourModel
    config: SequenceConfig
    best_epoch: int
    best_valid: float  # held-out last action: mean of next-category and next-item NDCG@10
    history: list[dict[str, float]]
    seconds: float
    sequences_per_s: float


def _inputs(sequences: Sequences, device: torch.device) -> tuple[Tensor, ...]:
    return (
        sequences.item.to(device),
        sequences.category.to(device),
        sequences.kind.to(device),
        gap_buckets(sequences).to(device),
    )


def _friend_shares(mix: SocialMix | None, rows: Tensor, num_categories: int) -> Tensor | None:
    """[B, C] the friends' share of each category for ``rows`` (None without a mix)."""
    if mix is None:
        return None
    part = mix.rows(rows)
    out = torch.zeros(rows.numel(), num_categories + 1, device=rows.device)
    out.scatter_add_(1, part.category, part.share)
    return out[:, 1:]


def _window_counts(
    category: Tensor, first: Tensor, window: int, num_categories: int
) -> tuple[Tensor, Tensor]:
    """For each row of ``category`` [B, L] and positions ``first + w`` (w < window): [B, W, C]
    counts of each category at positions up to and including it, and its one-hot."""
    b, length = category.shape
    device = category.device
    before = torch.arange(length, device=device).unsqueeze(0) < first.unsqueeze(1)
    base = torch.zeros(b, num_categories + 1, device=device)
    base.scatter_add_(1, torch.where(before, category, 0), before.float())
    at = (first.unsqueeze(1) + torch.arange(window, device=device)).clamp_max(length - 1)
    onehot = torch.zeros(b, window, num_categories + 1, device=device)
    onehot.scatter_(2, category.gather(1, at).unsqueeze(-1), 1.0)
    counts = base.unsqueeze(1) + onehot.cumsum(1)
    return counts[..., 1:], onehot[..., 1:]


def _prefix_item_counts(
    item: Tensor, rows: Tensor, cols: Tensor, candidates: Tensor, num_items: int
) -> tuple[Tensor, Tensor]:
    """For target positions (rows [N] into the batch, cols [N]), how often each candidate
    [N, M] (ids, no shift) appears in its row's items at positions <= col, and whether it is
    the item at col. Exact, by binary search over (row, item, position) keys."""
    b, length = item.shape
    span = num_items + 1
    pos = torch.arange(length, device=item.device).expand(b, -1)
    row_of = torch.arange(b, device=item.device).unsqueeze(1).expand(b, length)
    real = item > 0
    keys = ((row_of[real] * span + item[real]) * length + pos[real]).sort().values
    base = (rows.unsqueeze(1) * span + candidates + 1) * length
    lo = torch.searchsorted(keys, base)
    hi = torch.searchsorted(keys, base + cols.unsqueeze(1), right=True)
    latest = (item[rows, cols].unsqueeze(1) == candidates + 1).float()
    return (hi - lo).float(), latest


def _over(budget_s: float | None, started: float) -> bool:
    return budget_s is not None and time.perf_counter() - started > budget_s


def _batch_size(config: SequenceConfig, num_categories: int) -> int:
    fits = config.max_batch_floats // max(1, config.train_positions * (num_categories + 1) * 3)
    return int(max(8, min(config.batch_size, fits)))


def train_next_behaviour(
    sequences: Sequences,
    mix: SocialMix | None,
    *,
    num_items: int,
    num_categories: int,
    num_kinds: int,
    config: SequenceConfig = SequenceConfig(),
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> SequenceModel:
    """Train on every user with two or more actions; each user's last action is held out (the
    kept parameters never saw it), and half of those users choose the early-stopping epoch
    (:func:`validation_halves`; the other half decide whether the model ships)."""
    torch.manual_seed(config.seed)
    device = pick_device(config.device)
    generator = torch.Generator().manual_seed(config.seed)
    model = NextBehaviourModel(
        num_items,
        num_categories,
        num_kinds,
        config.dim,
        social=config.social and mix is not None,
        dropout=config.dropout,
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    inputs = _inputs(sequences, device)
    item, category, kind, gap = inputs
    length = sequences.length.to(device)
    hours = torch.log1p(sequences.gaps_hours().float()).to(device)
    mix_d = mix.to(device) if mix is not None and model.social else None
    users = torch.nonzero(sequences.length >= 2).flatten()
    if users.numel() == 0:
        raise ValueError("next-behaviour training needs a user with at least two actions")
    batch_size = _batch_size(config, num_categories)
    _init_from_counts(model, sequences, hours, num_items, num_categories)
    window = min(config.train_positions, sequences.item.size(1) - 1)
    offsets = torch.arange(window, device=device).unsqueeze(0)
    best, best_epoch, since = -1.0, -1, 0
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    history: list[dict[str, float]] = []
    started = time.perf_counter()
    trained_sequences = 0
    stopping, _ = validation_halves(users, config.seed)
    validated = sample_users(stopping, config.valid_users, config.seed).to(device)
    for epoch in range(config.max_epochs):
        if _over(config.time_budget_s, started):
            break
        model.train()
        order = users[torch.randperm(users.numel(), generator=generator)].to(device)
        total, batches = 0.0, 0
        for start in range(0, order.numel(), batch_size):
            if batches and _over(config.time_budget_s, started):
                break
            b = order[start : start + batch_size]
            # predict position j + 1 from the state after j, for the last `window` positions
            # before each user's last action (which is validation's)
            first = (length[b] - 2 - window).clamp_min(0)
            at = first.unsqueeze(1) + offsets  # [B, W] positions j
            valid = at <= (length[b] - 3).unsqueeze(1)
            at = at.clamp_max(sequences.item.size(1) - 2)
            rows_b = torch.arange(b.numel(), device=device).unsqueeze(1).expand_as(at)
            h = model.states(item[b], category[b], kind[b], gap[b])[rows_b, at]
            h = model.fuse(h, mix_d.rows(b) if mix_d is not None else None)
            counts, latest = _window_counts(category[b], first, window, num_categories)
            friends = _friend_shares(mix_d, b, num_categories)
            if friends is not None:
                friends = friends.unsqueeze(1).expand(-1, window, -1)[valid]
            hs = h[valid]
            rows, cols = rows_b[valid], at[valid]
            target = category[b][rows, cols + 1] - 1
            known = target >= 0
            logits = model.category_logits(hs, counts[valid], latest[valid], friends)
            loss = (
                nn.functional.cross_entropy(logits[known], target[known])
                if bool(known.any())
                else hs.sum() * 0
            )
            t_item = item[b][rows, cols + 1] - 1
            negatives = torch.randint(num_items, (config.item_negatives,), generator=generator)
            negatives = negatives.to(device)
            candidates = torch.cat([t_item.unsqueeze(1), negatives.expand(t_item.numel(), -1)], 1)
            item_counts, item_latest = _prefix_item_counts(
                item[b], rows, cols, candidates, num_items
            )
            item_scores = model.sampled_item_logits(hs, t_item, negatives, item_counts, item_latest)
            collide = candidates[:, 1:] == t_item.unsqueeze(1)
            item_scores[:, 1:] = item_scores[:, 1:].masked_fill(collide, float("-inf"))
            zero = torch.zeros(t_item.numel(), dtype=torch.long, device=device)
            loss = loss + nn.functional.cross_entropy(item_scores, zero)
            loss = loss + nn.functional.cross_entropy(
                model.kind_head(hs), kind[b][rows, cols + 1] - 1
            )
            loss = loss + nn.functional.mse_loss(
                model.gap_head(hs).squeeze(-1), hours[b][rows, cols + 1]
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            batches += 1
            trained_sequences += int(b.numel())
        valid = sum(_held_out_ndcg(model, inputs, length, validated, mix_d, batch_size)) / 2
        record = {"epoch": epoch, "loss": total / max(batches, 1), "valid_ndcg10": valid}
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if valid > best:
            best, best_epoch, since = valid, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            since += 1
            if since > config.patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    seconds = time.perf_counter() - started
    return SequenceModel(
        model.cpu(),
        config,
        best_epoch,
        best,
        history,
        seconds,
        trained_sequences / seconds if seconds > 0 else math.nan,
    )


@torch.no_grad()
def _init_from_counts(
    model: NextBehaviourModel,
    sequences: Sequences,
    hours: Tensor,
    num_items: int,
    num_categories: int,
) -> None:
    """Start the biases at log popularity and the gap head at the mean log gap: the heads
    begin where the popularity baseline is, and early stopping judges what the model adds."""
    device = model.item_bias.device
    for bias, column, size in (
        (model.item_bias, sequences.item, num_items),
        (model.category_bias, sequences.category, num_categories),
    ):
        counts = torch.bincount(column.flatten(), minlength=size + 1)[1:].float()
        logp = torch.log((counts + 1) / (counts.sum() + size))
        bias.copy_((logp - logp.mean()).to(device))
    gaps = hours[:, 1:][sequences.ts[:, 1:].to(device) >= 0]
    if gaps.numel():
        model.gap_head.bias.fill_(float(gaps.mean()))


def _last_state(
    model: NextBehaviourModel, inputs: tuple[Tensor, ...], rows: Tensor, at: Tensor
) -> Tensor:
    """[B, D] the state after position ``at`` (-1: before any action, zeros) of ``rows``."""
    item, category, kind, gap = inputs
    h = model.states(item[rows], category[rows], kind[rows], gap[rows])
    picked = h[torch.arange(rows.numel(), device=h.device), at.clamp_min(0)]
    return torch.where((at >= 0).unsqueeze(1), picked, torch.zeros_like(picked))


def _counts_through(column: Tensor, at: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """[B, size] counts of ids (shifted by one) at positions <= at, and the one-hot at ``at``."""
    b, length = column.shape
    upto = torch.arange(length, device=column.device).unsqueeze(0) <= at.unsqueeze(1)
    ids = torch.where(upto, column, 0)
    counts = torch.zeros(b, size + 1, device=column.device)
    counts.scatter_add_(1, ids, torch.ones_like(ids, dtype=torch.float32))
    latest = torch.zeros(b, size + 1, device=column.device)
    last_id = column[torch.arange(b, device=column.device), at.clamp_min(0)]
    latest.scatter_(1, torch.where(at >= 0, last_id, 0).unsqueeze(1), 1.0)
    return counts[:, 1:], latest[:, 1:]


def validation_halves(users: Tensor, seed: int) -> tuple[Tensor, Tensor]:
    """Two disjoint halves of the users whose last action is held out (a seeded shuffle, each
    half ascending): the first chooses training's early-stopping epoch, the second decides
    whether the model ships. Judged on the users that chose its epoch, the model would look
    better than it is."""
    order = torch.randperm(users.numel(), generator=torch.Generator().manual_seed(seed))
    shuffled = users[order.to(users.device)]
    return shuffled[0::2].sort().values, shuffled[1::2].sort().values


@torch.no_grad()
def held_out_category_ndcg(
    trained: SequenceModel, sequences: Sequences, mix: SocialMix | None, k: int = 10
) -> tuple[float, float]:
    """Next-category NDCG@k of each user's last action (the checking half of the users with
    two or more, :func:`validation_halves`: not those that chose the epoch), from the model
    and from the user's own counts before it (popularity breaking ties): the check a run makes
    before it ships the model's next categories."""
    model = trained.model.eval()
    users = torch.nonzero(sequences.length >= 2).flatten()
    if users.numel() == 0:
        return float("nan"), float("nan")
    _, checking = validation_halves(users, trained.config.seed)
    users = sample_users(checking, trained.config.valid_users, trained.config.seed)
    inputs = _inputs(sequences, torch.device("cpu"))
    length = sequences.length
    model_ndcg, _ = _held_out_ndcg(model.cpu(), inputs, length, users, mix, 1024, k)
    category = sequences.category
    pop = torch.bincount(category.flatten(), minlength=model.num_categories + 1)[1:].float()
    backoff = pop / (pop.max() + 1)
    gains, n = 0.0, 0
    for start in range(0, users.numel(), 1024):
        b = users[start : start + 1024]
        counts, _ = _counts_through(category[b], length[b] - 2, model.num_categories)
        target = category[b, length[b] - 1] - 1
        known = target >= 0
        top = (counts + backoff).topk(min(k, model.num_categories), dim=1).indices
        gains += float((_gain(top, target) * known).sum())
        n += int(known.sum())
    return model_ndcg, gains / max(n, 1)


@torch.no_grad()
def _held_out_ndcg(
    model: NextBehaviourModel,
    inputs: tuple[Tensor, ...],
    length: Tensor,
    users: Tensor,
    mix: SocialMix | None,
    batch_size: int,
    k: int = 10,
) -> float:
    """Next-category and next-item NDCG@k of each user's last action, from the state before
    it (NDCG, not HR: with few categories every one is in the top k)."""
    model.eval()
    item, category = inputs[0], inputs[1]
    hits, n, item_hits = 0.0, 0, 0.0  # gains
    for start in range(0, users.numel(), batch_size):
        b = users[start : start + batch_size]
        at = length[b] - 2
        state = model.fuse(_last_state(model, inputs, b, at), mix.rows(b) if mix else None)
        counts, latest = _counts_through(category[b], at, model.num_categories)
        friends = _friend_shares(mix, b, model.num_categories)
        logits = model.category_logits(state, counts, latest, friends)
        target = category[b, length[b] - 1] - 1
        known = target >= 0
        top = logits.topk(min(k, model.num_categories), dim=1).indices
        hits += float((_gain(top, target) * known).sum())
        n += int(known.sum())
        item_target = item[b, length[b] - 1] - 1
        item_hits += float(_gain(_top_items(model, state, item[b], at, k), item_target).sum())
    model.train()
    return hits / max(n, 1), item_hits / max(users.numel(), 1)


def _top_items(
    model: NextBehaviourModel, state: Tensor, item: Tensor, at: Tensor, k: int
) -> Tensor:
    """[B, k] the best-scoring next items (ids, no shift) over every item, the user's own
    repeats included, from the states [B, D] after position ``at`` of ``item`` [B, L]: scored
    a slice of rows at a time, so a block stays under ``ITEM_BLOCK_FLOATS`` however many items
    there are."""
    vectors = item_vectors(model).to(state.device)
    query = torch.cat([state, torch.ones(state.size(0), 1, device=state.device)], dim=1)
    row, column, value = repeat_terms(model, item, at, state)
    step = max(1, ITEM_BLOCK_FLOATS // max(1, model.num_items))
    out = []
    for lo in range(0, state.size(0), step):
        block = query[lo : lo + step] @ vectors.T
        mine = (row >= lo) & (row < lo + step)
        block.index_put_((row[mine] - lo, column[mine]), value[mine], accumulate=True)
        out.append(block.topk(min(k, model.num_items), dim=1).indices)
    return torch.cat(out) if out else torch.zeros(0, k, dtype=torch.long, device=state.device)


def _gain(top: Tensor, target: Tensor) -> Tensor:
    """[B] 1 / log2(rank + 2) where ``target`` is in the ranked ``top`` [B, k], else 0."""
    found = top == target.unsqueeze(1)
    rank = torch.arange(top.size(1), device=top.device, dtype=torch.float32)
    return (found.float() / torch.log2(rank + 2)).sum(1)


@dataclass(frozen=True)
class NextBehaviour:
    """Per user: ``category_probs`` [U, C] and ``kind_probs`` [U, K] of the next action and
    ``hours_to_next`` [U] (NaN without actions)."""

    category_probs: Tensor
    kind_probs: Tensor
    hours_to_next: Tensor


def _final_states(
    trained: SequenceModel,
    sequences: Sequences,
    mix: SocialMix | None,
    users: Tensor,
    batch_size: int,
) -> Iterator[tuple[NextBehaviourModel, Tensor, tuple[Tensor, ...], Tensor, Tensor]]:
    """Per batch of ``users``: the model on the device, the batch's rows, their inputs (only
    those rows are moved), their latest position (-1: none) and fused final state."""
    model = trained.model.eval()
    device = pick_device(trained.config.device)
    model = model.to(device)
    use_mix = mix is not None and model.social
    columns = (sequences.item, sequences.category, sequences.kind, gap_buckets(sequences))
    try:
        for start in range(0, users.numel(), batch_size):
            rows = users[start : start + batch_size]
            inputs = tuple(column[rows].to(device) for column in columns)
            at = (sequences.length[rows] - 1).to(device)
            local = torch.arange(rows.numel(), device=device)
            friends = mix.rows(rows).to(device) if use_mix and mix is not None else None
            state = model.fuse(_last_state(model, inputs, local, at), friends)
            yield model, rows, inputs, at, state
    finally:
        model.cpu()


@torch.no_grad()
def predict_next(
    trained: SequenceModel, sequences: Sequences, mix: SocialMix | None
) -> NextBehaviour:
    """The next action of every user, from the state after their latest action (a user
    without actions: from their friends' mix alone)."""
    parts: list[tuple[Tensor, Tensor, Tensor]] = []
    n_categories = trained.model.num_categories
    batch_size = _batch_size(trained.config, n_categories)
    users = torch.arange(sequences.num_users)
    for model, rows, inputs, at, state in _final_states(trained, sequences, mix, users, batch_size):
        counts, latest = _counts_through(inputs[1], at, n_categories)
        friends = _friend_shares(
            mix.to(state.device) if mix is not None and model.social else None,
            rows.to(state.device),
            n_categories,
        )
        hours = torch.expm1(model.gap_head(state).squeeze(-1).clamp(0, 12))
        hours = torch.where(at >= 0, hours, torch.full_like(hours, math.nan))
        parts.append(
            (
                model.category_logits(state, counts, latest, friends).softmax(-1).cpu(),
                model.kind_head(state).softmax(-1).cpu(),
                hours.double().cpu(),
            )
        )
    cat, kinds, hours = (torch.cat(column) for column in zip(*parts, strict=True))
    return NextBehaviour(cat, kinds, hours)


def item_vectors(model: NextBehaviourModel) -> Tensor:
    """[I, D + 1] each item's embedding and bias: a state ``[h, 1]`` dotted with a row is the
    item's score before the repeat terms (:func:`item_score_parts`)."""
    return torch.cat([model.item.weight[1:], model.item_bias.unsqueeze(1)], dim=1).detach()


@torch.no_grad()
def item_score_parts(
    trained: SequenceModel,
    sequences: Sequences,
    mix: SocialMix | None,
    users: Tensor,
    *,
    batch_size: int = 512,
) -> Iterator[tuple[Tensor, Tensor, tuple[Tensor, Tensor, Tensor]]]:
    """Per batch of ``users``: its rows, the query [B, D + 1] against :func:`item_vectors`, and
    the repeat terms (row, item, value) on the distinct items of each row's sequence, on the
    model's device: the next-item scores without a [B, I] block (:func:`item_scores`
    assembles them)."""
    for model, rows, inputs, at, state in _final_states(trained, sequences, mix, users, batch_size):
        query = torch.cat([state, torch.ones(rows.numel(), 1, device=state.device)], dim=1)
        yield rows, query, repeat_terms(model, inputs[0], at, state)


def repeat_terms(
    model: NextBehaviourModel, item: Tensor, at: Tensor, state: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """The repeat terms of the next-item scores of rows ``item`` [B, L] (shifted ids, 0 =
    padding) after position ``at`` [B] (-1: none), from their states [B, D]: (row, item id
    without the shift, value) for each distinct item a row has up to ``at``; every other
    item's term is zero."""
    b, length = item.shape
    upto = (torch.arange(length, device=item.device).unsqueeze(0) <= at.unsqueeze(1)) & (item > 0)
    row = torch.arange(b, device=item.device).unsqueeze(1).expand(b, length)[upto]
    keys, count = torch.unique(row * (model.num_items + 1) + item[upto], return_counts=True)
    k_row, k_item = keys // (model.num_items + 1), keys % (model.num_items + 1)
    last = item[torch.arange(b, device=item.device), at.clamp_min(0)]
    latest = (at[k_row] >= 0) & (last[k_row] == k_item)
    value = model.repeat_bonus(
        state[k_row], count.float().unsqueeze(1), latest.float().unsqueeze(1)
    ).squeeze(1)
    return k_row, k_item - 1, value


@torch.no_grad()
def item_scores(
    trained: SequenceModel,
    sequences: Sequences,
    mix: SocialMix | None,
    users: Tensor,
    *,
    batch_size: int = 512,
) -> Tensor:
    """[len(users), I] next-item scores (the user's own items count, as in training)."""
    out = []
    for _, query, (row, item, value) in item_score_parts(
        trained, sequences, mix, users, batch_size=batch_size
    ):
        block = query @ item_vectors(trained.model).to(query.device).T
        out.append(block.index_put_((row, item), value, accumulate=True).cpu())
    return torch.cat(out) if out else torch.zeros(0, trained.model.num_items)
