"""How a user shops: the view -> cart -> purchase funnel, what they buy, when they are active.

From a snapshot's interaction edges (each carries how many events it aggregates): the user's
views, carts and purchases (counted as events), the conversion from one step to the next, the
categories of their purchases (most bought first), the price level of what they buy (the
mean of each purchased item's price over the median price of its category's items; 1 = typical,
null without catalogue prices), and the four-hour window of the day (UTC) in which most of
their timestamped actions fall (an edge keeps its latest time, so this reads the latest action
per item and kind).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from core.vocabulary import CARTED, IN_CATEGORY, PURCHASED, PURCHASES, VIEWED
from engine.dimensions.adoptions import DAY_MS, Actions
from engine.interactions import primary_category
from engine.snapshot import Snapshot

HOUR_MS = DAY_MS // 24
WINDOW_HOURS = 4
MIN_TIMED_ACTIONS = 5  # fewer: no active-hours figure
TOP_CATEGORIES = 3


@dataclass
class Behaviour:
    views: Tensor  # [U] events
    carts: Tensor
    purchases: Tensor
    view_to_cart: Tensor  # NaN without views
    cart_to_purchase: Tensor  # NaN without carts
    purchase_categories: list[list[str]]
    active_hours: list[str]  # "" where too few timed actions
    price_level: Tensor  # NaN where no purchased item has a price


def _events(snapshot: Snapshot, rel: str, n: int) -> Tensor:
    edges = snapshot.edges.get(("user", rel, "item"))
    if edges is None:
        return torch.zeros(n, dtype=torch.float64)
    return torch.zeros(n, dtype=torch.float64).index_add_(0, edges.src, edges.count.double())


def _purchase_categories(snapshot: Snapshot, n: int) -> list[list[str]]:
    bought = snapshot.edges.get(PURCHASES)
    in_category = snapshot.edges.get(IN_CATEGORY)
    names = snapshot.node_ids.get("category", [])
    if bought is None or in_category is None or not names or not len(bought):
        return [[] for _ in range(n)]
    # each purchase edge once per category of its item (items -> categories as CSR)
    order = torch.argsort(in_category.src, stable=True)
    cat_of = in_category.dst[order]
    per_item = torch.bincount(in_category.src, minlength=snapshot.num_nodes("item"))
    starts = torch.cumsum(per_item, 0) - per_item
    reps = per_item[bought.dst]
    edge = torch.repeat_interleave(torch.arange(len(bought)), reps)
    offset = torch.arange(int(reps.sum())) - torch.repeat_interleave(
        torch.cumsum(reps, 0) - reps, reps
    )
    category = cat_of[starts[bought.dst[edge]] + offset]
    per_user = (
        torch.zeros(n * len(names), dtype=torch.float64)
        .index_add_(0, bought.src[edge] * len(names) + category, bought.count[edge].double())
        .view(n, len(names))
    )
    k = min(TOP_CATEGORIES, len(names))
    weights, top = per_user.topk(k, dim=1)
    top_l, on = top.tolist(), (weights > 0).tolist()
    return [
        [names[c] for c, keep in zip(row, mask, strict=True) if keep]
        for row, mask in zip(top_l, on, strict=True)
    ]


def _price_level(snapshot: Snapshot, n: int) -> Tensor:
    nan = torch.full((n,), float("nan"), dtype=torch.float64)
    price = snapshot.node_features.get("item", {}).get("price")
    bought = snapshot.edges.get(PURCHASES)
    n_categories = snapshot.num_nodes("category")
    if price is None or bought is None or not len(bought) or not n_categories:
        return nan
    price = price.to(torch.float64)
    category = primary_category(snapshot)
    priced = (price > 0) & (category >= 0)
    if not bool(priced.any()):
        return nan
    # the median price per category: sort by price, then (stably) by category
    p, c = price[priced], category[priced]
    by_price = torch.argsort(p)
    grouped = by_price[torch.argsort(c[by_price], stable=True)]
    counts = torch.bincount(c, minlength=n_categories)
    starts = torch.cumsum(counts, 0) - counts
    median = torch.full((n_categories,), float("nan"), dtype=torch.float64)
    has = counts > 0
    median[has] = p[grouped][starts[has] + (counts[has] - 1) // 2]
    item = bought.dst
    ratio = price[item] / median[category[item].clamp(min=0)]
    known = (price[item] > 0) & (category[item] >= 0) & ~ratio.isnan()
    weight = bought.count.double() * known
    total = torch.zeros(n, dtype=torch.float64).index_add_(0, bought.src, weight)
    summed = torch.zeros(n, dtype=torch.float64).index_add_(
        0, bought.src, torch.where(known, ratio, torch.zeros_like(ratio)) * weight
    )
    return torch.where(total > 0, summed / total.clamp(min=1e-12), nan)


def _active_hours(actions: Actions, n: int) -> list[str]:
    hour = torch.div(actions.ts % DAY_MS, HOUR_MS, rounding_mode="floor")
    counts = torch.zeros(n, 24, dtype=torch.float64)
    counts.index_put_((actions.user, hour), torch.ones(hour.numel(), dtype=torch.float64), True)
    # circular sums over windows of WINDOW_HOURS starting at each hour
    doubled = torch.cat([counts, counts[:, : WINDOW_HOURS - 1]], dim=1)
    windows = doubled.unfold(1, WINDOW_HOURS, 1).sum(-1)  # [U, 24]
    start = windows.argmax(1).tolist()
    enough = (counts.sum(1) >= MIN_TIMED_ACTIONS).tolist()
    return [
        f"{s:02d}-{(s + WINDOW_HOURS) % 24:02d} UTC" if ok else ""
        for s, ok in zip(start, enough, strict=True)
    ]


def behaviour(snapshot: Snapshot, actions: Actions) -> Behaviour:
    n = snapshot.num_nodes("user")
    views = _events(snapshot, VIEWED, n)
    carts = _events(snapshot, CARTED, n)
    purchases = _events(snapshot, PURCHASED, n)
    nan = torch.full((n,), float("nan"), dtype=torch.float64)
    return Behaviour(
        views,
        carts,
        purchases,
        torch.where(views > 0, carts / views.clamp(min=1), nan),
        torch.where(carts > 0, purchases / carts.clamp(min=1), nan),
        _purchase_categories(snapshot, n),
        _active_hours(actions, n),
        _price_level(snapshot, n),
    )


def behaviour_sentences(b: Behaviour) -> list[str]:
    out = []
    for views, carts, buys, cats, hours, level in zip(
        b.views.tolist(),
        b.carts.tolist(),
        b.purchases.tolist(),
        b.purchase_categories,
        b.active_hours,
        b.price_level.tolist(),
        strict=True,
    ):
        parts = []
        if views or carts or buys:
            funnel = f"{views:.0f} views, {carts:.0f} carts"
            if views:
                funnel += f" ({carts / views:.0%} of views)"
            funnel += f", {buys:.0f} purchases"
            if carts:
                funnel += f" ({buys / carts:.0%} of carts)"
            parts.append(funnel)
        if cats:
            parts.append("buys mostly " + ", ".join(cats))
        if level == level:  # not NaN
            parts.append(f"pays {level:.2f}x its categories' median price")
        if hours:
            parts.append(f"most active {hours}")
        out.append("; ".join(parts))
    return out
