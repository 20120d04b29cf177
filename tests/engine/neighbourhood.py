"""What an export of a few users' neighbourhood yields, cut from a whole snapshot in memory.

``graph.export`` with ``Neighbourhood(user_ids, hops)`` (or ``ChangedSince``) exports the seed
users and everyone within ``hops`` follows of them (either direction), their interactions,
orders and action log, and the follows among them; the seeds are flagged. Item and category
indices are kept as they are (the engine reads them by index; which items an export keeps does
not change what a user did). Tests of incremental runs use this so that the "incremental"
snapshot really is a neighbourhood, not the whole graph, and a path that reads population-wide
figures off it gives another answer.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from engine.snapshot import Snapshot


def neighbourhood(snapshot: Snapshot, seeds: list[int], hops: int) -> Snapshot:
    n = snapshot.num_nodes("user")
    follows = snapshot.edges[("user", "FOLLOWS", "user")]
    keep = torch.zeros(n, dtype=torch.bool)
    keep[torch.tensor(seeds)] = True
    for _ in range(hops):
        reached = keep.clone()
        reached[follows.dst[keep[follows.src]]] = True
        reached[follows.src[keep[follows.dst]]] = True
        keep = reached
    users = torch.nonzero(keep).flatten()
    new = torch.full((n,), -1, dtype=torch.long)
    new[users] = torch.arange(users.numel())
    edges = {}
    for key, e in snapshot.edges.items():
        if key[0] != "user":
            edges[key] = e
            continue
        mask = keep[e.src] & (keep[e.dst] if key[2] == "user" else True)
        part = e.select(mask)
        part.src = new[part.src]
        if key[2] == "user":
            part.dst = new[part.dst]
        edges[key] = part
    log = snapshot.actions
    if log is not None:
        log = log.select(keep[log.user])
        log.user = new[log.user]
    seed_mask = torch.zeros(users.numel(), dtype=torch.bool)
    seed_mask[new[torch.tensor(seeds)]] = True
    features = {**snapshot.node_features, "user": {"seed": seed_mask}}
    ids = [snapshot.node_ids["user"][u] for u in users.tolist()]
    out = replace(
        snapshot,
        node_ids={**snapshot.node_ids, "user": ids},
        edges=edges,
        node_features=features,
        actions=log,
    )
    out.validate()
    return out
