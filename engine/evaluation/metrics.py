"""Full-ranking Recall@k and NDCG@k (every item is a candidate except the excluded ones)."""

from __future__ import annotations

import torch
from torch import Tensor

# validation on a seeded sample this large ranks epochs and models as the whole population
# does, at a cost that stops growing with the population
MAX_BLOCK = 1 << 25  # [users, items] scores a ranking block holds (128 MiB of floats)
VALID_USERS = 20_000


def sample_users(users: Tensor, cap: int | None, seed: int = 0) -> Tensor:
    """``users`` or, past ``cap`` of them, a seeded sample of ``cap``, in ascending order."""
    if cap is None or users.numel() <= cap:
        return users
    generator = torch.Generator().manual_seed(seed)
    pick = torch.randperm(users.numel(), generator=generator)[:cap].to(users.device)
    return users[pick].sort().values


def user_rank_metrics(
    user_emb: Tensor,
    item_emb: Tensor,
    target: Tensor,
    exclude: list[Tensor],
    *,
    k: int = 10,
    batch_size: int = 4096,
    max_users: int | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Each user's Recall@k and NDCG@k, for the users with at least one target item (at most
    ``max_users`` of them: a seeded sample, :func:`sample_users`): (users, recall, ndcg), [N]
    each, what :func:`rank_metrics` averages and a paired comparison resamples.

    Args:
        user_emb (Tensor): [U, F]. item_emb (Tensor): [I, F].
        target (LongTensor): [2, T] (user, item) pairs to find.
        exclude (list of LongTensor [2, *]): pairs never ranked (e.g. training items).

    Recall@k = hits / |target items| (the published protocol); NDCG@k normalises by the ideal
    DCG of min(|target items|, k) hits. Vectorised per batch of users (no per-user Python
    loop): training evaluates every few epochs, and on a GPU a loop of small kernels would
    cost more than the training itself.
    """
    num_users, num_items, device = user_emb.size(0), item_emb.size(0), user_emb.device
    target = target.to(device)
    n_target = torch.bincount(target[0], minlength=num_users)
    users = sample_users(torch.nonzero(n_target).flatten(), max_users)
    target_keys = torch.unique(target[0] * num_items + target[1])
    excluded = torch.cat([e.to(device) for e in exclude], dim=1) if exclude else target[:, :0]
    position = torch.full((num_users,), -1, dtype=torch.long, device=device)
    position[users] = torch.arange(users.numel(), device=device)
    discounts = 1.0 / torch.log2(torch.arange(2, k + 2, dtype=torch.float64, device=device))
    ideal = torch.cumsum(discounts, 0)
    recall = torch.zeros(users.numel(), dtype=torch.float64, device=device)
    ndcg = torch.zeros(users.numel(), dtype=torch.float64, device=device)
    # the excluded pairs of the ranked users, by their position: a slice per batch
    excluded_pos = position[excluded[0]]
    kept = excluded_pos >= 0
    excluded_pos, order = torch.sort(excluded_pos[kept], stable=True)
    excluded_item = excluded[1, kept][order]
    # at most MAX_BLOCK scores at once: 4,096 users x 200k items would be 3.3 GB
    batch_size = max(1, min(batch_size, MAX_BLOCK // max(1, num_items)))
    for start in range(0, users.numel(), batch_size):
        batch = users[start : start + batch_size]
        scores = user_emb[batch] @ item_emb.T
        bounds = torch.tensor([start, start + batch.numel()], device=device)
        lo, hi = torch.searchsorted(excluded_pos, bounds).tolist()
        scores[excluded_pos[lo:hi] - start, excluded_item[lo:hi]] = -torch.inf
        # fewer items than k (a small catalogue, a handful of categories): rank them all
        top = torch.topk(scores, min(k, num_items), dim=1).indices
        # membership by binary search in the sorted keys (torch.isin sorts both sides anew)
        keys = batch[:, None] * num_items + top
        found = torch.searchsorted(target_keys, keys).clamp(max=target_keys.numel() - 1)
        hit = (target_keys[found] == keys).to(torch.float64)
        wanted = n_target[batch]
        rows = slice(start, start + batch.numel())
        recall[rows] = hit.sum(1) / wanted
        ndcg[rows] = (hit * discounts[: top.size(1)]).sum(1) / ideal[wanted.clamp(max=k) - 1]
    return users, recall, ndcg


def rank_metrics(
    user_emb: Tensor,
    item_emb: Tensor,
    target: Tensor,
    exclude: list[Tensor],
    *,
    k: int = 10,
    batch_size: int = 4096,
    max_users: int | None = None,
) -> dict[str, float]:
    """Mean Recall@k and NDCG@k over users with at least one target item (see
    :func:`user_rank_metrics`)."""
    users, recall, ndcg = user_rank_metrics(
        user_emb, item_emb, target, exclude, k=k, batch_size=batch_size, max_users=max_users
    )
    recall_sum, ndcg_sum = recall.sum(), ndcg.sum()
    n = max(int(users.numel()), 1)
    return {
        f"recall@{k}": float(recall_sum) / n,
        f"ndcg@{k}": float(ndcg_sum) / n,
        "users": float(users.numel()),
    }
