"""The exploitation / exploration trade-off of the recommendation lists, on a time split.

For a cut ``t``, the lists are built from what was known before it (exploit scores from
rankers trained before it, the evidence of the actions before it) and scored against what each
user did after it: Recall@N (hits over the user's distinct future items) and NDCG@N; catalogue
coverage (distinct items recommended over the catalogue); novelty (mean self-information
-log2 of an item's share of the users who acted on it before the cut); intra-list diversity
(the share of a list's item pairs in different categories); and the **discovery rate**: the
share of users whose future actions fall in a category first shown to them by an exploration
slot (a category they had not acted in before). Each exploration share is run with Thompson
sampling and with uniformly random thin categories (the comparison), over seeds; users with at
most ``cold_actions`` actions before the cut are also reported apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from engine.dimensions.recommendations import (
    EXPLORE,
    EvidenceSource,
    RecommendConfig,
    recommend,
    standardised_sum,
)
from engine.evaluation.churn_evaluation import mean_std


@dataclass(frozen=True)
class Future:
    """What the evaluated users did after the cut: (row, item) and (row, category) pairs."""

    item_pairs: Tensor  # [2, F] distinct
    category_pairs: Tensor  # [2, G] distinct
    past_categories: Tensor  # [2, P] (row, category) acted in before the cut
    past_actions: Tensor  # [n] actions before the cut


def _random_explore(
    evidence_actions: Tensor, has_items: Tensor, e: int, thin: int, generator: torch.Generator
) -> Tensor:
    noise = torch.rand(evidence_actions.shape, generator=generator)
    ok = (evidence_actions <= thin) & has_items.unsqueeze(0)
    noise = torch.where(ok, noise, torch.full_like(noise, -1.0))
    top = noise.topk(min(e, noise.size(1)), dim=1)
    return torch.where(top.values >= 0, top.indices, -1)


def evaluate_lists(
    source: EvidenceSource,
    users: Tensor,
    exploit: list[Tensor],
    future: Future,
    *,
    shares: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3),
    seeds: tuple[int, ...] = (0, 1, 2),
    config: RecommendConfig = RecommendConfig(),
    cold_actions: int = 2,
) -> list[dict[str, float]]:
    """One row per (share, strategy, seed) with every figure of the module docstring."""
    n_items = source.item_category.numel()
    item_pop = source.item_popularity
    active = int((source.items.ptr[1:] > source.items.ptr[:-1]).sum())  # users with a past
    info = (-torch.log2((item_pop + 1) / (active + 1))).clamp_min(0)
    has_items = torch.zeros(source.num_categories, dtype=torch.bool)
    has_items[source.item_category[source.item_category >= 0]] = True
    future_items = torch.zeros(users.numel(), n_items, dtype=torch.bool)
    future_items[future.item_pairs[0], future.item_pairs[1]] = True
    n_future = future_items.sum(1)
    future_cats = torch.zeros(users.numel(), source.num_categories, dtype=torch.bool)
    future_cats[future.category_pairs[0], future.category_pairs[1]] = True
    past_cats = torch.zeros_like(future_cats)
    past_cats[future.past_categories[0], future.past_categories[1]] = True
    cold = future.past_actions <= cold_actions
    rows: list[dict[str, float]] = []
    for share in shares:
        for strategy in ("thompson", "random") if share > 0 else ("none",):
            for seed in seeds:
                cfg = replace(config, explore_share=share, seed=seed)
                g = torch.Generator().manual_seed(1000 + seed)
                parts = []
                block = cfg.rows_per_block(n_items)
                for start in range(0, users.numel(), block):
                    rows_b = users[start : start + block]
                    ev = source.rows(rows_b)
                    forced = (
                        _random_explore(
                            ev.actions, has_items, cfg.explore_slots, cfg.thin_actions, g
                        )
                        if strategy == "random"
                        else None
                    )
                    scores = [s[start : start + block] for s in exploit]
                    parts.append(recommend(standardised_sum(scores), ev, cfg, explore=forced))
                item = torch.cat([p.item for p in parts])
                kind = torch.cat([p.kind for p in parts])
                category = torch.cat([p.category for p in parts])
                rows.append(
                    {
                        "share": share,
                        "strategy": strategy,
                        "seed": seed,
                        **_figures(
                            item,
                            kind,
                            category,
                            future_items,
                            n_future,
                            future_cats,
                            past_cats,
                            info,
                            cold,
                            n_items,
                            cfg.n,
                        ),
                    }
                )
    return rows


def _figures(
    item: Tensor,
    kind: Tensor,
    category: Tensor,
    future_items: Tensor,
    n_future: Tensor,
    future_cats: Tensor,
    past_cats: Tensor,
    info: Tensor,
    cold: Tensor,
    n_items: int,
    n: int,
) -> dict[str, float]:
    valid = item >= 0
    safe = item.clamp_min(0)
    hit = future_items.gather(1, safe) & valid
    scored = n_future > 0
    recall = hit.sum(1).double() / n_future.clamp_min(1)
    discount = 1 / torch.log2(torch.arange(n, dtype=torch.float64) + 2)
    dcg = (hit.double() * discount).sum(1)
    ideal = torch.cumsum(discount, 0)[(n_future.clamp(1, n) - 1)]
    ndcg = dcg / ideal
    pairs = (
        (category.unsqueeze(2) != category.unsqueeze(1)) & valid.unsqueeze(2) & valid.unsqueeze(1)
    )
    n_valid = valid.sum(1).double()
    ild = pairs.sum((1, 2)).double() / (n_valid * (n_valid - 1)).clamp_min(1)
    explored_new = (kind == EXPLORE) & valid & (category >= 0)
    new = explored_new & ~past_cats.gather(1, category.clamp_min(0))
    discovered = (new & future_cats.gather(1, category.clamp_min(0))).any(1)
    out = {
        "recall": _mean(recall[scored]),
        "ndcg": _mean(ndcg[scored]),
        "cold_recall": _mean(recall[scored & cold]),
        "coverage": float(torch.unique(item[valid]).numel() / max(n_items, 1)),
        "novelty": _mean(info[item[valid]]),
        "diversity": _mean(ild),
        "discovery": _mean(discovered[scored].double()),
        "users": float(scored.sum()),
        "cold_users": float((scored & cold).sum()),
    }
    return out


def _mean(values: Tensor) -> float:
    return float(values.double().mean()) if values.numel() else math.nan


def summarise(rows: list[dict[str, float]]) -> list[dict[str, float | str]]:
    """Mean and spread per (share, strategy) over seeds and cuts."""
    keys = sorted({(r["share"], r["strategy"]) for r in rows}, key=lambda k: (k[0], str(k[1])))
    metrics = ("recall", "ndcg", "cold_recall", "coverage", "novelty", "diversity", "discovery")
    out: list[dict[str, float | str]] = []
    for share, strategy in keys:
        group = [r for r in rows if r["share"] == share and r["strategy"] == strategy]
        row: dict[str, float | str] = {"share": share, "strategy": str(strategy)}
        for m in metrics:
            row.update(mean_std(m, [float(r[m]) for r in group]))
        row["users"] = group[0]["users"]
        row["cold_users"] = group[0]["cold_users"]
        out.append(row)
    return out
