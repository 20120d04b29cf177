"""Look-alikes, scored on the future: do a user's nearest neighbours go on to take up what the
user takes up?

Temporal split as in ``engine.evaluation.interest_prediction``: neighbours are found from what was
known
before the cut; the truth is the categories each user takes up after it. For a sample of seed
users with future categories, each method names ``k`` neighbours (among users with past
evidence); precision@k is the share of the neighbours' future categories that the seed also
takes up, averaged over the neighbours with future activity and then over the seeds. Methods:

- ``random``: any users (the floor);
- ``item_jaccard``: the most overlapping past item sets;
- ``interest_cosine``: the closest interest distributions (the profile's interests, fitted on
  the past), and ``interest_projection``, the same projected to the 64 dimensions the vector
  index holds;
- ``embedding``: the profile embedding, when given. It is trained on every interaction, the
  future ones included, so it may look better than it is: the report says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from engine.dimensions.interests import (
    InterestInputs,
    interest_inputs,
    interest_scores,
    own_interests,
)
from engine.dimensions.segments import interest_features, projection_basis
from engine.evaluation.as_of import predicts_at_cut
from engine.evaluation.interest_prediction import fit_on_past, past_snapshot, temporal_split
from engine.evaluation.significance import paired_bootstrap
from engine.models.propagation import trusted_sparse
from engine.snapshot import Snapshot

if TYPE_CHECKING:
    from engine.evaluation.snapshot_evaluation import EvaluationConfig


def _precision(neighbours: Tensor, seeds: Tensor, future: Tensor) -> Tensor:
    """[S] per seed, the mean share of its neighbours' future categories the seed also takes
    up (over the neighbours with a future; NaN where none has one)."""
    scores = []
    for seed, row in zip(seeds.tolist(), neighbours.tolist(), strict=True):
        mine = future[seed]
        shares = [
            float((future[v] & mine).sum()) / float(future[v].sum())
            for v in row
            if bool(future[v].any())
        ]
        scores.append(sum(shares) / len(shares) if shares else float("nan"))
    return torch.tensor(scores, dtype=torch.float64)


def _mean(values: Tensor) -> float:
    known = values[~values.isnan()]
    return float(known.mean()) if known.numel() else 0.0


SHIPPED, BASELINES = "interest_projection", ("item_jaccard", "random")


def _nearest(x: Tensor, seeds: Tensor, candidates: Tensor, k: int) -> Tensor:
    """[S, k] the candidates with the highest cosine to each seed (the seed itself excluded)."""
    x = F.normalize(x.float(), dim=1)
    sim = x[seeds] @ x[candidates].T
    sim[candidates[None, :] == seeds[:, None]] = -2.0
    return candidates[torch.topk(sim, min(k, candidates.numel() - 1), dim=1).indices]


def _jaccard(
    user: Tensor, item: Tensor, n_users: int, seeds: Tensor, candidates: Tensor, k: int
) -> Tensor:
    """[S, k] the candidates whose past item sets overlap each seed's most (Jaccard)."""
    n_items = int(item.max()) + 1 if item.numel() else 1
    pairs = torch.unique(user * n_items + item)
    u, i = pairs // n_items, pairs % n_items
    with trusted_sparse():  # valid by construction (unique pairs)
        m = torch.sparse_coo_tensor(torch.stack([u, i]), torch.ones(u.numel()), (n_users, n_items))
        m = m.coalesce()
        size = torch.bincount(u, minlength=n_users).float()
        dense_seeds = m.index_select(0, seeds).to_dense()  # [S, I]
        inter = (m.index_select(0, candidates) @ dense_seeds.T).T  # [S, C]
    union = size[seeds][:, None] + size[candidates][None, :] - inter
    jac = inter / union.clamp(min=1)
    jac[candidates[None, :] == seeds[:, None]] = -1.0
    return candidates[torch.topk(jac, min(k, candidates.numel() - 1), dim=1).indices]


def lookalike_features_at(snapshot: Snapshot, cut: int, *, k: int) -> tuple[InterestInputs, Tensor]:
    """The past's interest inputs (item overlap reads its pairs) and each user's interest
    features, from the model fitted on the past alone."""
    past = past_snapshot(snapshot, cut)
    inputs = interest_inputs(past)
    model, _ = fit_on_past(past, k=k)
    p = interest_scores(
        own_interests(inputs, half_life_days=model.half_life_days, intent=model.intent),
        inputs,
        model,
    )
    return inputs, interest_features(p)


@predicts_at_cut("lookalikes")
def _lookalikes_at(snapshot: Snapshot, cut: int, config: EvaluationConfig) -> dict[str, Tensor]:
    inputs, features = lookalike_features_at(snapshot, cut, k=config.k)
    return {"user": inputs.user, "item": inputs.item, "interest_features": features}


def evaluate_lookalikes(
    snapshot: Snapshot,
    *,
    split: float = 0.8,
    k: int = 10,
    max_seeds: int = 500,
    embedding: Tensor | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Precision@k per method (see the module docstring), with the numbers of seeds and
    candidates behind it."""
    parts = temporal_split(snapshot, split)
    if parts is None:
        raise ValueError("look-alikes are scored on timestamped interactions")
    _, target, cut = parts
    inputs, features = lookalike_features_at(snapshot, cut, k=k)
    n = inputs.num_users
    future = torch.zeros(n, max(1, len(inputs.categories)), dtype=torch.bool)
    future[target[0], target[1]] = True
    own = own_interests(inputs)
    candidates = torch.nonzero(own.sum(1) > 0).flatten()
    with_future = torch.nonzero(future.any(1) & (own.sum(1) > 0)).flatten()
    g = torch.Generator().manual_seed(seed)
    seeds = with_future[torch.randperm(with_future.numel(), generator=g)[:max_seeds]]
    if seeds.numel() == 0 or candidates.numel() < 2:
        return {"seeds": 0, "candidates": int(candidates.numel()), "methods": {}}
    neighbours = {
        "random": candidates[torch.randint(0, candidates.numel(), (seeds.numel(), k), generator=g)],
        "item_jaccard": _jaccard(inputs.user, inputs.item, n, seeds, candidates, k),
        "interest_cosine": _nearest(features, seeds, candidates, k),
        # what the vector index serves: the same features projected to 64 dimensions
        "interest_projection": _nearest(
            features @ projection_basis(features), seeds, candidates, k
        ),
    }
    if embedding is not None and embedding.size(0) == n:
        neighbours["embedding"] = _nearest(embedding, seeds, candidates, k)
    per_seed = {name: _precision(nb, seeds, future) for name, nb in neighbours.items()}
    methods = {name: {f"precision@{k}": _mean(p)} for name, p in per_seed.items()}
    # what the vector index serves against the best baseline, paired over the seeds
    best = max(BASELINES, key=lambda name: methods[name][f"precision@{k}"])
    both = ~(per_seed[SHIPPED].isnan() | per_seed[best].isnan())
    comparison = paired_bootstrap(per_seed[SHIPPED][both], per_seed[best][both])
    return {
        "seeds": int(seeds.numel()),
        "candidates": int(candidates.numel()),
        "k": k,
        "methods": methods,
        "comparison": {"method": SHIPPED, "baseline": best, **comparison.describe()},
        "embedding_sees_the_future": embedding is not None,
    }
