"""Full-ranking Recall@k and NDCG@k (every item is a candidate except the excluded ones)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _csr_rows(pairs: Tensor, num_users: int) -> list[Tensor]:
    order = torch.argsort(pairs[0], stable=True)
    items = pairs[1, order]
    counts = torch.bincount(pairs[0], minlength=num_users).tolist()
    return list(torch.split(items, counts))


def rank_metrics(
    user_emb: Tensor,
    item_emb: Tensor,
    target: Tensor,
    exclude: list[Tensor],
    *,
    k: int = 10,
    batch_size: int = 1024,
) -> dict[str, float]:
    """Mean Recall@k and NDCG@k over users with at least one target item.

    Args:
        user_emb (Tensor): [U, F]. item_emb (Tensor): [I, F].
        target (LongTensor): [2, T] (user, item) pairs to find.
        exclude (list of LongTensor [2, *]): pairs never ranked (e.g. training items).

    Recall@k = hits / |target items| (the published protocol); NDCG@k normalises by the ideal
    DCG of min(|target items|, k) hits.
    """
    num_users, device = user_emb.size(0), user_emb.device
    targets = _csr_rows(target, num_users)
    excluded = [_csr_rows(e, num_users) for e in exclude]
    users = [u for u in range(num_users) if len(targets[u])]
    discounts = 1.0 / torch.log2(torch.arange(2, k + 2, dtype=torch.float64))
    recall_sum = ndcg_sum = 0.0
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        scores = user_emb[batch] @ item_emb.T
        for row, u in enumerate(batch):
            for rows in excluded:
                if len(rows[u]):
                    scores[row, rows[u].to(device)] = -math.inf
        top = torch.topk(scores, k, dim=1).indices.cpu()
        for row, u in enumerate(batch):
            wanted = targets[u]
            hit = torch.isin(top[row], wanted).to(torch.float64)
            recall_sum += float(hit.sum()) / len(wanted)
            ideal = float(discounts[: min(len(wanted), k)].sum())
            ndcg_sum += float((hit * discounts).sum()) / ideal
    n = max(len(users), 1)
    return {f"recall@{k}": recall_sum / n, f"ndcg@{k}": ndcg_sum / n, "users": float(len(users))}
