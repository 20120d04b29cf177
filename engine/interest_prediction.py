"""Interest prediction, scored on the future: do the profile's interests foresee the categories
a user will tag next?

Temporal split on the timestamped interactions: everything up to the ``split`` quantile of
their times is the past; the truth is the categories each user takes up afterwards - the tags
they assign, where the data has timestamped tag assignments (LastFM), else the categories of
the items they interact with (e-commerce events). Only
timestamped interactions before the cut inform the predictions; interactions without a time
(LastFM's play counts cover the whole period) are left out, since they would leak the future.
Methods, each ranking all categories per user (Recall@k, NDCG@k):

- ``popularity``: the categories most tagged before the cut, the same for everyone;
- ``own_history``: the user's own past evidence only;
- ``friends_average``: the mean interests of the people the user follows only;
- ``profile``: what the profile stores, own evidence mixed with followees' (``propagate``).

Cold users (fewer than ``cold_threshold`` categorised past interactions) are reported
separately: they are where the social neighbourhood should matter.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from engine.interests import (
    InterestInputs,
    interest_inputs,
    normalise,
    own_interests,
    propagate,
    social_interests,
)
from engine.metrics import rank_metrics
from engine.snapshot import EdgeSet, Snapshot

TAGGED = ("user", "TAGGED", "item")


def _before(edges: EdgeSet, cut: int) -> EdgeSet:
    keep = (edges.ts >= 0) & (edges.ts <= cut)
    category = edges.category[keep] if edges.category is not None else None
    return EdgeSet(
        edges.src[keep],
        edges.dst[keep],
        edges.weight[keep],
        edges.ts[keep],
        edges.count[keep],
        category,
    )


def time_cut(ts: Tensor, quantile: float) -> int:
    """The ``quantile`` of the times (kthvalue: ``torch.quantile`` refuses > 16M values)."""
    return int(torch.kthvalue(ts, max(1, min(ts.numel(), round(quantile * ts.numel())))).values)


def past_snapshot(snapshot: Snapshot, cut: int) -> Snapshot:
    """The snapshot with user-item interactions reduced to those timestamped up to ``cut``."""
    edges = {
        key: _before(e, cut) if key[0] == "user" and key[2] == "item" else e
        for key, e in snapshot.edges.items()
    }
    return replace(snapshot, edges=edges)


def _future_categories(
    snapshot: Snapshot, inputs: InterestInputs, timed: dict[Any, EdgeSet], cut: int
) -> Tensor:
    """Distinct (user, category column) pairs taken up after ``cut``: [2, T]."""
    tags = timed.get(TAGGED)
    if tags is not None and tags.category is not None:
        column = {name: i for i, name in enumerate(inputs.categories)}
        names = snapshot.node_ids["category"]
        to_column = torch.tensor([column.get(name, -1) for name in names], dtype=torch.long)
        future = tags.ts > cut
        users, cols = tags.src[future], to_column[tags.category[future]]
    else:
        parts = [(e.src[e.ts > cut], e.dst[e.ts > cut]) for e in timed.values()]
        user = torch.cat([u for u, _ in parts])
        item = torch.cat([i for _, i in parts])
        hit = torch.nonzero(inputs.item_category[item] > 0)
        users, cols = user[hit[:, 0]], hit[:, 1]
    keep = cols >= 0
    return torch.unique(torch.stack([users[keep], cols[keep]]), dim=1)


def _scores(inputs: InterestInputs, beta: float) -> dict[str, Tensor]:
    own = own_interests(inputs)
    p = propagate(own, inputs, beta=beta)
    mass = own.sum(0, keepdim=True)
    return {
        "popularity": mass.expand(inputs.num_users, -1),
        "own_history": normalise(own),
        "friends_average": social_interests(normalise(own), inputs),
        "profile": p,
    }


def evaluate_interest_prediction(
    snapshot: Snapshot,
    *,
    split: float = 0.8,
    k: int = 10,
    beta: float = 0.3,
    max_categories: int = 256,
    cold_threshold: int = 3,
) -> dict[str, dict[str, float]]:
    """Metrics per method, for all users with future categories and the cold ones among them."""
    timed = {
        key: e
        for key, e in snapshot.edges.items()
        if key[0] == "user" and key[2] == "item" and bool((e.ts >= 0).any())
    }
    if not timed:
        raise ValueError("interest prediction needs timestamped user-item interactions")
    all_ts = torch.cat([e.ts[e.ts >= 0] for e in timed.values()])
    cut = time_cut(all_ts, split)
    inputs = interest_inputs(past_snapshot(snapshot, cut), max_categories)
    target = _future_categories(snapshot, inputs, timed, cut)
    evidence = torch.bincount(inputs.user, minlength=inputs.num_users)
    cold = evidence < cold_threshold
    identity = torch.eye(len(inputs.categories))
    metrics: dict[str, dict[str, float]] = {}
    for method, score in _scores(inputs, beta).items():
        overall = rank_metrics(score, identity, target, [], k=k)
        of_cold = rank_metrics(score, identity, target[:, cold[target[0]]], [], k=k)
        metrics[method] = {
            f"recall@{k}": overall[f"recall@{k}"],
            f"ndcg@{k}": overall[f"ndcg@{k}"],
            f"cold_recall@{k}": of_cold[f"recall@{k}"],
            f"cold_ndcg@{k}": of_cold[f"ndcg@{k}"],
            "users": overall["users"],
            "cold_users": of_cold["users"],
        }
    return metrics
