"""Pull training inputs out of a Snapshot: user-item pairs and user-user ties."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from core.vocabulary import FOLLOWS, IN_CATEGORY, RATINGS
from engine.dimensions.adoptions import Actions
from engine.snapshot import Snapshot


def rating_threshold(snapshot: Snapshot) -> float | None:
    """The rating below which a rating is no interest, inferred from the data's own scale: the
    middle of the ratings seen (1-5: 3; 1-10: 5.5; 0-1: 0.5). None where the data has no
    ratings (implicit feedback only: every interaction is evidence)."""
    seen = [e.weight for (_, rel, _), e in snapshot.edges.items() if rel in RATINGS and len(e)]
    if not seen:
        return None
    weights = torch.cat(seen).double()
    return float(weights.min() + (weights.max() - weights.min()) / 2)


def interaction_pairs(
    snapshot: Snapshot,
    relations: Sequence[str] | None = None,
    *,
    min_rating: float | None = None,
) -> Tensor:
    """Distinct (user, item) pairs [2, E] over the given interaction relations (default: all),
    the positive ones: a rating below ``min_rating`` (None: the data's own middle,
    :func:`rating_threshold`) is no interest, so no pair, as in the interests."""
    threshold = rating_threshold(snapshot) if min_rating is None else min_rating
    parts = [
        torch.stack([edges.src, edges.dst])[
            :,
            edges.weight >= threshold if rel in RATINGS and threshold is not None else slice(None),
        ]
        for (src, rel, dst), edges in snapshot.edges.items()
        if src == "user" and dst == "item" and (relations is None or rel in relations)
    ]
    if not parts:
        return torch.empty(2, 0, dtype=torch.long)
    both = torch.cat(parts, dim=1)
    return unique_pairs(both[0], both[1])


def unique_pairs(row: Tensor, col: Tensor) -> Tensor:
    """[2, P] the distinct (row, col) pairs of non-negative indices, sorted by row then col, as
    ``torch.unique(torch.stack([row, col]), dim=1)`` gives them, through one int64 key a pair
    (a fraction of the memory and time of ``unique(dim=1)``'s sort: 22M actions at 1M users)."""
    if not row.numel():
        return torch.empty(2, 0, dtype=torch.long)
    width = int(col.max()) + 1
    key = torch.unique(row.long() * width + col.long())
    return torch.stack([torch.div(key, width, rounding_mode="floor"), key % width])


def social_ties(snapshot: Snapshot) -> tuple[Tensor, Tensor]:
    edges = snapshot.edges.get(FOLLOWS)
    if edges is None:
        empty = torch.empty(0, dtype=torch.long)
        return empty, empty
    return edges.src, edges.dst


def timed_actions(snapshot: Snapshot) -> Actions:
    """Every known time of a user-item action: each edge's first and latest time, and each row
    of the action log, one row per distinct (user, item, time), sorted by user, item, time.

    An edge aggregates all events of one user, item and kind, so its ``ts`` alone is the *last*
    touch: read alone, a follower who took an item up before the leader and again after would
    count as adopting it, and a daily visitor would be active on one day. The first time says
    when the item was taken up; the log (each user's latest actions) says on which days."""
    users, items, ts = [], [], []

    def add(user: Tensor, item: Tensor, times: Tensor) -> None:
        known = times >= 0
        users.append(user[known])
        items.append(item[known])
        ts.append(times[known])

    for (src, _rel, dst), edges in snapshot.edges.items():
        if src == "user" and dst == "item":
            add(edges.src, edges.dst, edges.ts)
            if edges.first_ts is not None:
                earlier = edges.first_ts != edges.ts  # one event: its first time is its last
                add(edges.src[earlier], edges.dst[earlier], edges.first_ts[earlier])
    if snapshot.actions is not None:
        add(snapshot.actions.user, snapshot.actions.item, snapshot.actions.ts)
    empty = torch.empty(0, dtype=torch.long)
    if not users:
        return Actions(empty, empty, empty)
    user, item, time = torch.cat(users), torch.cat(items), torch.cat(ts)
    if not user.numel():
        return Actions(empty, empty, empty)
    # distinct (user, item, time): sort by time, then stably by the (user, item) key
    pair = user * (int(item.max()) + 1) + item
    order = torch.argsort(time, stable=True)
    order = order[torch.argsort(pair[order], stable=True)]
    pair, time = pair[order], time[order]
    new = torch.ones_like(pair, dtype=torch.bool)
    new[1:] = (pair[1:] != pair[:-1]) | (time[1:] != time[:-1])
    order = order[new]
    return Actions(user[order], item[order], time[new])


def last_action_times(actions: Actions, num_users: int) -> Tensor:
    """Each user's latest action time [U] (-1 where the user has no timestamped action)."""
    latest = torch.full((num_users,), -1, dtype=torch.long)
    return latest.scatter_reduce(0, actions.user, actions.ts, reduce="amax")


def primary_category(snapshot: Snapshot) -> Tensor:
    """[I] each item's primary category (-1 if none): its heaviest, ties to the first name in
    alphabetical order - never the order Neo4j happens to return its edges in."""
    n_items = snapshot.num_nodes("item")
    primary = torch.full((n_items,), -1, dtype=torch.long)
    links = snapshot.edges.get(IN_CATEGORY)
    if links is None or not len(links):
        return primary
    names = snapshot.node_ids.get("category", [])
    by_name = torch.empty(len(names), dtype=torch.long)
    by_name[torch.tensor(sorted(range(len(names)), key=names.__getitem__), dtype=torch.long)] = (
        torch.arange(len(names))
    )
    # the last written wins: sort so that the heaviest, then the first name, comes last
    order = torch.argsort(-by_name[links.dst], stable=True)
    order = order[torch.argsort(links.weight[order].double(), stable=True)]
    primary[links.src[order]] = links.dst[order]
    return primary
