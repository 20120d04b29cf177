"""Where training starts: the previous run's embeddings, new nodes placed among their neighbours.

A full run that follows another starts from its layer-0 embeddings (a nightly refresh sees a
day's new events, not a new shop), and so does an incremental run from its base run's. A user
or item the previous run did not know starts at the mean of the previous embeddings of its
known neighbours in the interaction pairs (one step of the propagation LightGCN itself does), so
it begins where its interactions place it rather than at random; a node with no known neighbour
starts small and random, as in a cold start. A run without a previous one is a cold start.
"""

from __future__ import annotations

import torch
from torch import Tensor

COLD_SCALE = 0.1  # the cold start's spread (LightGCN's own initialisation is of this order)


def known_rows(ids: list[str], known: list[str], offset: int) -> tuple[Tensor, Tensor]:
    """Positions in ``ids`` of the nodes ``known`` lists, and their rows there (+ ``offset``)."""
    where = {key: i for i, key in enumerate(known)}
    rows = [(i, where[key]) for i, key in enumerate(ids) if key in where]
    if not rows:
        empty = torch.empty(0, dtype=torch.long)
        return empty, empty
    mine, theirs = torch.tensor(rows).T
    return mine, theirs + offset


def initial_embedding(
    previous: Tensor | None,
    previous_users: list[str],
    previous_items: list[str],
    user_ids: list[str],
    item_ids: list[str],
    pairs: Tensor,
    *,
    dim: int,
    seed: int = 0,
) -> tuple[Tensor | None, dict[str, int]]:
    """[U + I, dim] layer-0 embeddings to start from (None: a cold start, no previous run) and
    how many users and items were known, placed by their neighbours, or left random.
    ``previous`` [U' + I', dim] holds ``previous_users`` then ``previous_items``; ``pairs`` [2, E]
    are the (user, item) interactions the new nodes are placed by."""
    n_users, n_items = len(user_ids), len(item_ids)
    if previous is None or previous.size(1) != dim:
        return None, {}
    generator = torch.Generator().manual_seed(seed)
    init = torch.randn(n_users + n_items, dim, generator=generator) * COLD_SCALE
    known = torch.zeros(n_users + n_items, dtype=torch.bool)
    mine, theirs = known_rows(user_ids, previous_users, 0)
    init[mine] = previous[theirs].float()
    known[mine] = True
    mine, theirs = known_rows(item_ids, previous_items, len(previous_users))
    init[n_users + mine] = previous[theirs].float()
    known[n_users + mine] = True
    # a new node: the mean of its known neighbours (users of an item, items of a user)
    src, dst = pairs[0].long(), pairs[1].long() + n_users
    ends = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], dim=1)
    useful = ~known[ends[0]] & known[ends[1]]
    to, of = ends[0][useful], ends[1][useful]
    total = torch.zeros_like(init).index_add_(0, to, init[of])
    count = torch.bincount(to, minlength=n_users + n_items)
    placed = count > 0
    init[placed] = total[placed] / count[placed].unsqueeze(1)
    return init, {
        "known_users": int(known[:n_users].sum()),
        "known_items": int(known[n_users:].sum()),
        "placed_by_neighbours": int(placed.sum()),
        "random": int((~known & ~placed).sum()),
    }
