"""A seeded synthetic shop with known ground truth, for scale tests and for scoring models.

What is planted (and saved next to the data as ground truth):

- **communities**: each user belongs to one; a community prefers a few categories;
- **latent interests**: each user's distribution over categories, drawn around the community's;
- **social graph**: out-degrees are heavy-tailed, targets are picked in proportion to a
  power-law "attractiveness" (mostly within the user's community), so in-degrees follow a
  power law too; influencers are made more attractive;
- **organic interactions**: a user picks a category from their interests and an item in it by
  popularity; kinds are view/click/cart/purchase, timestamps uniform over the horizon;
- **influence**: every purchase by user ``v`` is adopted by each follower of ``v`` (a purchase
  of the same item) with probability ``influence[v]`` after an exponential delay. Influencers
  (a small fraction) have strengths around 0.2-0.8, everyone else around 0.03. Each adoption
  records its cause, so cascades are known exactly.
- **churn** (off unless ``churn_per_year`` > 0): each user stops for good at a time drawn day by
  day from a hazard that grows with the share of the people they follow who have already
  stopped (``churn_contagion``: the hazard with every followee gone is ``1 + contagion`` times
  the base), so churn spreads through follows. A churned user does nothing afterwards (nor
  adopts). Each user's churn time is saved (``churn_ts``; never: the largest int64).

Everything is numpy, generated in chunks, so 1M users / 20M interactions fit in a few GB.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.vocabulary import FOLLOWS, IN_CATEGORY, ORDERS, REL_TYPES, InteractionKind
from engine.evaluation import fairness
from engine.snapshot import ActionLog, EdgeSet, Snapshot
from engine.typing import EdgeType

KIND_NAMES = ("view", "click", "cart", "purchase")
KIND_PROBS = (0.6, 0.2, 0.1, 0.1)
PURCHASE = KIND_NAMES.index("purchase")
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
_CHUNK = 1_000_000


@dataclass(frozen=True)
class SyntheticConfig:
    n_users: int = 10_000
    n_items: int = 2_000
    n_categories: int = 40
    n_communities: int = 20
    mean_follows: float = 10.0
    mean_interactions: float = 20.0
    influencer_fraction: float = 0.01
    in_community: float = 0.8
    mean_delay_days: float = 3.0
    horizon_days: float = 90.0
    seed: int = 0
    churn_per_year: float = 0.0  # base hazard of stopping for good; 0: nobody churns
    churn_contagion: float = 4.0


@dataclass
class SyntheticDataset:
    config: SyntheticConfig
    community: np.ndarray  # [U] int
    interests: np.ndarray  # [U, C] float32, rows sum to 1 (ground truth)
    influence: np.ndarray  # [U] float32 adoption probability per follower (ground truth)
    is_influencer: np.ndarray  # [U] bool
    item_category: np.ndarray  # [I] int
    item_popularity: np.ndarray  # [I] float32
    item_price: np.ndarray  # [I] float64, dollars and cents: a purchase's amount
    follow_src: np.ndarray  # [F] int (src follows dst)
    follow_dst: np.ndarray
    follow_ts: np.ndarray  # [F] epoch ms
    user: np.ndarray  # [N] int, interactions
    item: np.ndarray
    kind: np.ndarray  # [N] int8 index into KIND_NAMES
    ts: np.ndarray  # [N] epoch ms
    cause: np.ndarray  # [N] int: the influencer whose purchase this adopts, -1 if organic
    churn_ts: np.ndarray  # [U] int64 epoch ms when the user stops (ground truth; max: never)

    def user_id(self, u: int) -> str:
        return f"u{u}"

    def save(self, directory: Path) -> Path:
        """Data and ground truth side by side: data.npz, ground_truth.npz, config.json."""
        directory.mkdir(parents=True, exist_ok=True)
        np.savez(
            directory / "data.npz",
            item_category=self.item_category,
            item_popularity=self.item_popularity,
            item_price=self.item_price,
            follow_src=self.follow_src,
            follow_dst=self.follow_dst,
            follow_ts=self.follow_ts,
            user=self.user,
            item=self.item,
            kind=self.kind,
            ts=self.ts,
        )
        np.savez(
            directory / "ground_truth.npz",
            community=self.community,
            interests=self.interests,
            influence=self.influence,
            is_influencer=self.is_influencer,
            cause=self.cause,
            churn_ts=self.churn_ts,
        )
        (directory / "config.json").write_text(json.dumps(asdict(self.config), indent=2))
        return directory

    @classmethod
    def load(cls, directory: Path) -> SyntheticDataset:
        config = SyntheticConfig(**json.loads((directory / "config.json").read_text()))
        with np.load(directory / "data.npz") as data, np.load(directory / "ground_truth.npz") as gt:
            truth = {k: gt[k] for k in gt.files}
            # saved before churn was planted: nobody churned
            truth.setdefault("churn_ts", np.full(config.n_users, NEVER, dtype=np.int64))
            fields = {k: data[k] for k in data.files}
            fields.setdefault("item_price", item_prices(config))  # saved before prices
            return cls(config=config, **fields, **truth)


def _sample_rows(cum: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each row index, draw a column from that row's cumulative distribution (chunked)."""
    out = np.empty(len(rows), dtype=np.int64)
    for start in range(0, len(rows), _CHUNK):
        part = rows[start : start + _CHUNK]
        r = rng.random(len(part))[:, None]
        out[start : start + _CHUNK] = (cum[part] < r).sum(axis=1)
    return np.minimum(out, cum.shape[1] - 1)


def _weighted_pick(
    groups: np.ndarray, weights: np.ndarray, want_group: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """For each entry of ``want_group``, pick an element of that group with prob ∝ weight."""
    order = np.lexsort((np.arange(len(groups)), groups))
    sorted_groups, sorted_w = groups[order], weights[order]
    starts = np.searchsorted(sorted_groups, np.arange(groups.max() + 2))
    cum = np.cumsum(sorted_w)
    base = np.concatenate([[0.0], cum])[starts[:-1]]
    totals = np.concatenate([[0.0], cum])[starts[1:]] - base
    targets = base[want_group] + rng.random(len(want_group)) * totals[want_group]
    picked = np.searchsorted(cum, targets, side="right")
    return order[np.clip(picked, starts[want_group], starts[want_group + 1] - 1)]


def generate(config: SyntheticConfig) -> SyntheticDataset:
    if config.n_items < config.n_categories or config.n_users < 2:
        raise ValueError(
            "SyntheticConfig needs n_items >= n_categories and n_users >= 2 (found "
            f"n_items={config.n_items}, n_categories={config.n_categories}, "
            f"n_users={config.n_users})"
        )
    rng = np.random.default_rng(config.seed)
    n_u, n_i, n_c, n_k = config.n_users, config.n_items, config.n_categories, config.n_communities
    horizon_ms = int(config.horizon_days * 86_400_000)
    t0 = int(EPOCH.timestamp() * 1000)

    # Communities and latent interests.
    community = rng.choice(n_k, size=n_u, p=rng.dirichlet(np.full(n_k, 2.0)))
    profiles = rng.dirichlet(np.full(n_c, 0.15), size=n_k)
    interests = np.empty((n_u, n_c), dtype=np.float32)
    for start in range(0, n_u, 100_000):
        part = community[start : start + 100_000]
        interests[start : start + 100_000] = rng.gamma(profiles[part] * 8.0 + 0.02)
    interests /= interests.sum(axis=1, keepdims=True)

    # Influencers and the social graph.
    n_inf = max(1, round(config.influencer_fraction * n_u))
    is_influencer = np.zeros(n_u, dtype=bool)
    is_influencer[rng.choice(n_u, size=n_inf, replace=False)] = True
    influence = np.where(is_influencer, rng.uniform(0.2, 0.8, n_u), rng.beta(1.0, 30.0, n_u))
    influence = influence.astype(np.float32)
    attractiveness = (rng.pareto(1.5, n_u) + 1.0) * np.where(is_influencer, 20.0, 1.0)
    out_degree = np.minimum(rng.pareto(2.0, n_u) * config.mean_follows + 1, n_u - 1).astype(
        np.int64
    )
    src = np.repeat(np.arange(n_u), out_degree)
    local = rng.random(len(src)) < config.in_community
    dst = np.empty(len(src), dtype=np.int64)
    dst[local] = _weighted_pick(community, attractiveness, community[src[local]], rng)
    dst[~local] = _weighted_pick(
        np.zeros(n_u, np.int64), attractiveness, np.zeros(int((~local).sum()), np.int64), rng
    )
    keys = np.unique(src[src != dst] * n_u + dst[src != dst])
    follow_src, follow_dst = keys // n_u, keys % n_u
    follow_ts = t0 - rng.integers(0, 365 * 86_400_000, len(keys))

    # Items and organic interactions.
    item_category = rng.choice(n_c, size=n_i, p=rng.dirichlet(np.full(n_c, 5.0)))
    item_popularity = (rng.pareto(1.2, n_i) + 1.0).astype(np.float32)
    item_category[rng.permutation(n_i)[:n_c]] = np.arange(n_c)  # no category without items
    counts = rng.poisson(config.mean_interactions, n_u)
    user = np.repeat(np.arange(n_u), counts)
    category = _sample_rows(np.cumsum(interests, axis=1), user, rng)
    item = _weighted_pick(item_category, item_popularity, category, rng)
    kind = rng.choice(len(KIND_NAMES), size=len(user), p=KIND_PROBS).astype(np.int8)
    ts = t0 + rng.integers(0, horizon_ms, len(user))
    churn_ts = _churn_times(config, follow_src, follow_dst, t0, rng)
    if config.churn_per_year > 0:  # a churned user's later actions never happen
        keep = ts < churn_ts[user]
        user, item, kind, ts = user[keep], item[keep], kind[keep], ts[keep]

    # One level of influence: followers adopt purchases.
    order = np.argsort(follow_dst, kind="stable")
    followers, starts = follow_src[order], np.searchsorted(follow_dst[order], np.arange(n_u + 1))
    bought = np.flatnonzero(kind == PURCHASE)
    adopters, adopted, sources, times = [], [], [], []
    for start in range(0, len(bought), _CHUNK):
        part = bought[start : start + _CHUNK]
        v = user[part]
        n_f = starts[v + 1] - starts[v]
        rows = np.repeat(np.arange(len(part)), n_f)
        offsets = np.arange(n_f.sum()) - np.repeat(np.cumsum(n_f) - n_f, n_f)
        follower = followers[starts[v][rows] + offsets]
        take = rng.random(len(rows)) < influence[v][rows]
        delay = rng.exponential(config.mean_delay_days * 86_400_000, int(take.sum())).astype(
            np.int64
        )
        when = ts[part][rows[take]] + 1 + delay
        inside = (when < t0 + horizon_ms) & (when < churn_ts[follower[take]])
        adopters.append(follower[take][inside])
        adopted.append(item[part][rows[take]][inside])
        sources.append(v[rows[take]][inside])
        times.append(when[inside])
    n_org = len(user)
    user = np.concatenate([user, *adopters])
    item = np.concatenate([item, *adopted])
    kind = np.concatenate([kind, np.full(len(user) - n_org, PURCHASE, np.int8)])
    ts = np.concatenate([ts, *times])
    cause = np.concatenate([np.full(n_org, -1, np.int64), *sources])
    return SyntheticDataset(
        config=config,
        community=community,
        interests=interests,
        influence=influence,
        is_influencer=is_influencer,
        item_category=item_category,
        item_popularity=item_popularity,
        item_price=item_prices(config),
        follow_src=follow_src,
        follow_dst=follow_dst,
        follow_ts=follow_ts,
        user=user,
        item=item,
        kind=kind,
        ts=ts,
        cause=cause,
        churn_ts=churn_ts,
    )


NEVER = np.iinfo(np.int64).max


def item_prices(config: SyntheticConfig) -> np.ndarray:
    """Log-normal prices (median about $20), from their own random stream: adding prices
    changed nothing else the generator draws."""
    rng = np.random.default_rng([config.seed, 7])
    return np.round(rng.lognormal(3.0, 0.7, config.n_items), 2)


def _churn_times(
    config: SyntheticConfig,
    follow_src: np.ndarray,
    follow_dst: np.ndarray,
    t0: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Day by day: each user still active stops with probability base x (1 + contagion x the
    share of their followees already stopped). No draws at all when churn is off."""
    n = config.n_users
    churn = np.full(n, NEVER, dtype=np.int64)
    if config.churn_per_year <= 0:
        return churn
    base = config.churn_per_year / 365.0
    followees = np.bincount(follow_src, minlength=n).astype(np.float64)
    gone = np.zeros(n, dtype=bool)
    for day in range(int(config.horizon_days)):
        share = np.bincount(follow_src, weights=gone[follow_dst], minlength=n) / np.maximum(
            followees, 1
        )
        hazard = base * (1 + config.churn_contagion * share)
        stops = ~gone & (rng.random(n) < hazard)
        churn[stops] = t0 + day * 86_400_000 + rng.integers(0, 86_400_000, int(stops.sum()))
        gone |= stops
    return churn


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def synthetic_events(ds: SyntheticDataset) -> Iterator[dict[str, Any]]:
    """The data set as raw events for the ordinary ingest path (items, follows, interactions)."""
    for i, category in enumerate(ds.item_category.tolist()):
        yield {
            "type": "item_upsert",
            "event_id": f"syn:item:{i}",
            "item_id": f"i{i}",
            "categories": [f"cat{category}"],
            "price": float(ds.item_price[i]),
        }
    for n, (a, b, t) in enumerate(
        zip(ds.follow_src.tolist(), ds.follow_dst.tolist(), ds.follow_ts.tolist(), strict=True)
    ):
        yield {
            "type": "follow",
            "event_id": f"syn:follow:{n}",
            "user_id": f"u{a}",
            "target_user_id": f"u{b}",
            "ts": _iso(t),
        }
    for n, (u, i, k, t) in enumerate(
        zip(ds.user.tolist(), ds.item.tolist(), ds.kind.tolist(), ds.ts.tolist(), strict=True)
    ):
        event = {
            "type": "interaction",
            "event_id": f"syn:x:{n}",
            "user_id": f"u{u}",
            "item_id": f"i{i}",
            "kind": KIND_NAMES[k],
            "ts": _iso(t),
        }
        if k == PURCHASE:
            event.update(amount=float(ds.item_price[i]), currency="USD")
        yield event


AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
AGE_SHARES = (0.15, 0.25, 0.22, 0.18, 0.12, 0.08)
GENDERS = ("female", "male", "other")
GENDER_SHARES = (0.49, 0.48, 0.03)


def user_attributes(ds: SyntheticDataset) -> dict[str, list[str]]:
    """Each user's age band and gender (sensitive attributes), drawn from a random stream of
    their own: the data and its ground truth are the same with or without them. Nothing in
    the behaviour depends on them, so a fair model's per-group figures agree within noise."""
    rng = np.random.default_rng([ds.config.seed, 0x5E5])
    n = len(ds.community)
    age = rng.choice(len(AGE_BANDS), size=n, p=AGE_SHARES)
    gender = rng.choice(len(GENDERS), size=n, p=GENDER_SHARES)
    return {
        "age_band": [AGE_BANDS[a] for a in age.tolist()],
        "gender": [GENDERS[g] for g in gender.tolist()],
    }


def synthetic_user_events(ds: SyntheticDataset) -> Iterator[dict[str, Any]]:
    """A user_upsert per user with the sensitive attributes (stored, never a model input)."""
    attributes = user_attributes(ds)
    for u, (age, gender) in enumerate(
        zip(attributes["age_band"], attributes["gender"], strict=True)
    ):
        yield {
            "type": "user_upsert",
            "event_id": f"syn:user:{u}",
            "user_id": ds.user_id(u),
            "age_band": age,
            "gender": gender,
        }


def to_snapshot(ds: SyntheticDataset, *, sensitive: bool = False) -> Snapshot:
    """The snapshot a whole-graph export of this data set yields, built without a database:
    for engine tests and benches that need planted truth at sizes a load would take long for.
    As the export does, one edge per (user, item, kind) holds all its events: their count and
    summed weight, the earliest time (``first_ts``) and the latest (``ts``); the action log
    keeps every event.
    ``sensitive``: with the users' age bands and genders, as an export enabled for the
    fairness report carries them (``engine.evaluation.fairness``)."""

    n_u, n_i = len(ds.community), len(ds.item_category)
    edges: dict[EdgeType, EdgeSet] = {}
    kinds = sorted(set(REL_TYPES.values()))
    action_kind = np.zeros(len(ds.kind), np.int64)
    for k, name in enumerate(KIND_NAMES):
        pick = ds.kind == k
        rel = REL_TYPES[InteractionKind(name)]
        action_kind[pick] = kinds.index(rel)
        edges[("user", rel, "item")] = _aggregated(ds.user[pick], ds.item[pick], ds.ts[pick])
    edges[FOLLOWS] = _edge_set(ds.follow_src, ds.follow_dst, ds.follow_ts)
    edges[IN_CATEGORY] = _edge_set(np.arange(n_i), ds.item_category, np.full(n_i, -1))
    # every purchase is an order of its own, worth its item's price (as the ingest records it)
    bought = np.flatnonzero(ds.kind == PURCHASE)
    orders = _edge_set(ds.user[bought], np.arange(len(bought)), ds.ts[bought])
    orders.weight = torch.from_numpy(ds.item_price[ds.item[bought]].astype(np.float32))
    edges[ORDERS] = orders
    n_c = int(ds.item_category.max()) + 1
    snapshot = Snapshot(
        node_ids={
            "user": [ds.user_id(u) for u in range(n_u)],
            "item": [f"i{i}" for i in range(n_i)],
            "category": [f"cat{c}" for c in range(n_c)],
            "order": [f"event:syn:x:{n}" for n in bought.tolist()],
        },
        edges=edges,
        watermark=0,
        taken_at=0.0,
        selection={"kind": "synthetic"},
        node_features={"item": {"price": torch.from_numpy(ds.item_price.astype(np.float64))}},
        actions=ActionLog.build(
            torch.from_numpy(ds.user.astype(np.int64)),
            torch.from_numpy(ds.item.astype(np.int64)),
            torch.from_numpy(action_kind),
            torch.from_numpy(ds.ts.astype(np.int64)),
            torch.full((len(ds.user),), -1, dtype=torch.long),
            kinds,
        ),
    )
    for attribute, values in (user_attributes(ds) if sensitive else {}).items():
        fairness.attach(snapshot, attribute, values)
    return snapshot


def _aggregated(src: np.ndarray, dst: np.ndarray, ts: np.ndarray) -> EdgeSet:
    """One edge per distinct (src, dst), as the ingest keeps them: events counted, weights
    summed, the earliest and the latest time."""
    width = int(dst.max()) + 1 if len(dst) else 1
    key = src.astype(np.int64) * width + dst
    pairs, inverse, count = np.unique(key, return_inverse=True, return_counts=True)
    first = np.full(len(pairs), np.iinfo(np.int64).max, np.int64)
    last = np.full(len(pairs), -1, np.int64)
    np.minimum.at(first, inverse, ts)
    np.maximum.at(last, inverse, ts)
    edges = _edge_set(pairs // width, pairs % width, last)
    edges.count = torch.from_numpy(count.astype(np.int64))
    edges.weight = edges.count.float()
    edges.first_ts = torch.from_numpy(first)
    return edges


def _edge_set(src: np.ndarray, dst: np.ndarray, ts: np.ndarray) -> EdgeSet:
    n = len(src)
    return EdgeSet(
        src=torch.from_numpy(src.astype(np.int64)),
        dst=torch.from_numpy(dst.astype(np.int64)),
        weight=torch.ones(n),
        ts=torch.from_numpy(ts.astype(np.int64)),
        count=torch.ones(n, dtype=torch.long),
    )
