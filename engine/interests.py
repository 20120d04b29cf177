"""Interests: each user's distribution over categories, from their own interactions and,
through the follow graph, from the people they follow.

``own[u]`` sums the categories of the items ``u`` interacted with (weighted by interaction
strength); the propagated distribution is a personalised-PageRank-style mix
``p = (1 - beta) * own + beta * mean(p over followees)``, iterated a few times, so a user with
no history of their own (cold start) still gets their friends' interests, and a user with a
long history keeps mostly their own. Only the ``max_categories`` heaviest categories are kept:
the long tail of free-text tags (LastFM has ~10k) carries little signal and would make the
[users x categories] matrix too big at scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from engine.neighbours import NeighbourMean
from engine.snapshot import Snapshot


@dataclass(frozen=True)
class InterestInputs:
    user: Tensor  # [E] interaction user index
    item: Tensor  # [E] interaction item index
    strength: Tensor  # [E] log1p(weight)
    item_category: Tensor  # [I, K] dense, rows sum to 1 (or 0 for uncategorised items)
    categories: list[str]  # [K] names
    follow_src: Tensor  # src follows dst
    follow_dst: Tensor
    num_users: int


def interest_inputs(snapshot: Snapshot, max_categories: int = 256) -> InterestInputs:
    n_items = snapshot.num_nodes("item")
    names = snapshot.node_ids.get("category", [])
    links = snapshot.edges.get(("item", "IN_CATEGORY", "category"))
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
    users, items, strength = [], [], []
    for (src, _rel, dst), edges in snapshot.edges.items():
        if src == "user" and dst == "item":
            users.append(edges.src)
            items.append(edges.dst)
            strength.append(edges.weight.float().clamp(min=0).log1p())
    follows = snapshot.edges.get(("user", "FOLLOWS", "user"))
    empty = torch.empty(0, dtype=torch.long)
    return InterestInputs(
        user=torch.cat(users) if users else empty,
        item=torch.cat(items) if items else empty,
        strength=torch.cat(strength) if strength else torch.empty(0),
        item_category=item_category,
        categories=kept,
        follow_src=follows.src if follows is not None else empty,
        follow_dst=follows.dst if follows is not None else empty,
        num_users=snapshot.num_nodes("user"),
    )


def own_interests(inputs: InterestInputs, chunk: int = 200_000) -> Tensor:
    """[U, K] un-normalised evidence: category mass of each user's interactions."""
    own = torch.zeros(inputs.num_users, inputs.item_category.size(1))
    for lo in range(0, inputs.user.numel(), chunk):
        rows = slice(lo, lo + chunk)
        mass = inputs.item_category[inputs.item[rows]] * inputs.strength[rows, None]
        own.index_add_(0, inputs.user[rows], mass)
    return own


def normalise(x: Tensor) -> Tensor:
    return x / x.sum(1, keepdim=True).clamp(min=1e-12)


def propagate(own: Tensor, inputs: InterestInputs, *, beta: float = 0.3, steps: int = 3) -> Tensor:
    """[U, K] interest distributions: own evidence mixed with followees', ``steps`` times."""
    start = normalise(own)
    has_own = (own.sum(1) > 0)[:, None]
    followees = NeighbourMean.of(inputs.follow_dst, inputs.follow_src, inputs.num_users)
    p = start
    for _ in range(steps):
        social = followees @ p
        p = torch.where(has_own, (1 - beta) * start + beta * social, social)
    return normalise(p)


def social_interests(p: Tensor, inputs: InterestInputs) -> Tensor:
    """[U, K] the mean interests of the people each user follows."""
    return NeighbourMean.of(inputs.follow_dst, inputs.follow_src, inputs.num_users) @ p
