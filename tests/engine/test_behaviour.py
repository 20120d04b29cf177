"""The shopping-behaviour dimension against counts made directly from the synthetic shop."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import torch

from engine.dimensions.adoptions import DAY_MS
from engine.dimensions.behaviour import behaviour, behaviour_sentences
from engine.interactions import timed_actions
from graph.datasets.synthetic import KIND_NAMES, SyntheticConfig, generate, to_snapshot


def test_funnel_categories_and_hours_match_the_raw_events() -> None:
    data = generate(SyntheticConfig(n_users=300, n_items=80, seed=4))
    snapshot = to_snapshot(data)
    b = behaviour(snapshot, timed_actions(snapshot))
    views = np.bincount(data.user[data.kind == KIND_NAMES.index("view")], minlength=300)
    carts = np.bincount(data.user[data.kind == KIND_NAMES.index("cart")], minlength=300)
    buys = np.bincount(data.user[data.kind == KIND_NAMES.index("purchase")], minlength=300)
    for u in range(300):
        assert b.views[u] == views[u] and b.purchases[u] == buys[u]
        if carts[u]:
            assert math.isclose(float(b.cart_to_purchase[u]), buys[u] / carts[u])
        else:
            assert math.isnan(float(b.cart_to_purchase[u]))
        bought = Counter(
            f"cat{data.item_category[i]}"
            for i in data.item[(data.user == u) & (data.kind == KIND_NAMES.index("purchase"))]
        )
        if bought:  # the most bought category leads (ties in any order)
            assert bought[b.purchase_categories[u][0]] == max(bought.values())
    # active hours: the window holds at least as many actions as any other 4-hour window
    u = int(np.argmax(np.bincount(data.user)))
    hours = (data.ts[data.user == u] % DAY_MS) // (DAY_MS // 24)
    per_hour = np.bincount(hours, minlength=24)
    start = int(b.active_hours[u][:2])
    window = sum(per_hour[(start + h) % 24] for h in range(4))
    best = max(sum(per_hour[(s + h) % 24] for h in range(4)) for s in range(24))
    assert window == best
    # price level: mean price paid over the median price of the item's category
    buyer = int(np.argmax(buys))
    median = {
        c: float(
            np.sort(data.item_price[data.item_category == c])[
                (int((data.item_category == c).sum()) - 1) // 2
            ]
        )
        for c in set(data.item_category.tolist())
    }
    paid = data.item[(data.user == buyer) & (data.kind == KIND_NAMES.index("purchase"))]
    expected = np.mean([data.item_price[i] / median[int(data.item_category[i])] for i in paid])
    assert math.isclose(float(b.price_level[buyer]), expected, rel_tol=1e-9)
    sentence = behaviour_sentences(b)[u]
    assert f"{views[u]} views" in sentence and "most active" in sentence
    assert torch.isnan(b.view_to_cart[views == 0]).all() if (views == 0).any() else True
