"""Item-ranking evaluation over several random splits: popularity, LightGCN, LightGCN + social,
and their ensemble (the two models' scores summed).

The protocol of the published LastFM social-recommendation results: per-user random 80/10/10
split, full ranking over all items excluding the user's training (and, at test time,
validation) items, Recall@k and NDCG@k averaged over users with a test item, early stopping on
validation Recall@k. Split-to-split noise is as large as the gaps between published models, so
every figure is reported per seed and as mean ± standard deviation.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import Tensor

from engine.evaluation.fairness import Groups, members
from engine.evaluation.metrics import rank_metrics
from engine.evaluation.split import split_per_user
from engine.models.distributed import fit_lightgcn
from engine.models.train import TrainConfig, held_out_metrics


def popularity_metrics(
    split_train: Tensor, split_valid: Tensor, target: Tensor, num_users: int, num_items: int, k: int
) -> dict[str, float]:
    """Rank every item by its number of training users (the same list for everyone)."""
    users, items = popularity_scores(split_train, num_users, num_items)
    return rank_metrics(users, items, target, [split_train, split_valid], k=k)


def popularity_scores(split_train: Tensor, num_users: int, num_items: int) -> tuple[Tensor, Tensor]:
    """Popularity as embeddings: every user 1, every item its number of training users."""
    counts = torch.bincount(split_train[1], minlength=num_items).to(torch.float32)
    return torch.ones(num_users, 1), counts[:, None]


@dataclass
class ItemRankingReport:
    k: int
    rows: list[dict[str, float | str]] = field(default_factory=list)
    # per sensitive group (engine.evaluation.fairness): model, seed, attribute, group and the
    # metrics
    by_group: list[dict[str, float | str]] = field(default_factory=list)

    def group_summary(self) -> list[dict[str, float | str]]:
        """Per (model, attribute, group): mean and spread over the seeds."""
        keys = sorted(
            {(str(r["model"]), str(r["attribute"]), str(r["group"])) for r in self.by_group}
        )
        out: list[dict[str, float | str]] = []
        for model, attribute, group in keys:
            mine = [
                r
                for r in self.by_group
                if (r["model"], r["attribute"], r["group"]) == (model, attribute, group)
            ]
            row: dict[str, float | str] = {"model": model, "attribute": attribute, "group": group}
            for metric in (f"recall@{self.k}", f"ndcg@{self.k}", "users"):
                values = [float(r[metric]) for r in mine]
                row[metric] = statistics.fmean(values)
                row[f"{metric}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
            out.append(row)
        return out

    def summary(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for model in sorted({str(r["model"]) for r in self.rows}):
            for metric in (f"recall@{self.k}", f"ndcg@{self.k}"):
                values = [float(r[metric]) for r in self.rows if r["model"] == model]
                spread = statistics.stdev(values) if len(values) > 1 else 0.0
                out.setdefault(model, {})[metric] = statistics.fmean(values)
                out[model][f"{metric}_std"] = spread
        return out

    def to_markdown(self) -> str:
        k = self.k
        lines = [f"| model | Recall@{k} | NDCG@{k} | seeds |", "|---|---|---|---|"]
        for model, m in self.summary().items():
            n = sum(1 for r in self.rows if r["model"] == model)
            lines.append(
                f"| {model} | {m[f'recall@{k}']:.4f} ± {m[f'recall@{k}_std']:.4f} | "
                f"{m[f'ndcg@{k}']:.4f} ± {m[f'ndcg@{k}_std']:.4f} | {n} |"
            )
        return "\n".join(lines)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "item_ranking.md").write_text(self.to_markdown() + "\n")
        data = {"k": self.k, "rows": self.rows, "summary": self.summary()}
        (directory / "item_ranking.json").write_text(json.dumps(data, indent=2))


def evaluate_item_ranking(
    pairs: Tensor,
    num_users: int,
    num_items: int,
    *,
    social: tuple[Tensor, Tensor] | None,
    seeds: list[int],
    config: TrainConfig,
    models: Sequence[str] = ("lightgcn", "lightgcn+social"),
    on_epoch: Callable[[str, int, dict[str, float]], None] | None = None,
    groups: Groups | None = None,
) -> ItemRankingReport:
    """Popularity, LightGCN and (with ``social``) LightGCN + social ties, one split per seed;
    with ``groups`` (sensitive, ``engine.evaluation.fairness``) each model is also scored per
    group."""
    report = ItemRankingReport(k=config.k)
    variants: list[tuple[str, tuple[Tensor, Tensor] | None]] = []
    if "lightgcn" in models:
        variants.append(("lightgcn", None))
    if social is not None and "lightgcn+social" in models:
        variants.append(("lightgcn+social", social))
    for seed in seeds:
        split = split_per_user(pairs[0], pairs[1], seed=seed)
        pop = popularity_metrics(
            split.train, split.valid, split.test, num_users, num_items, config.k
        )
        report.rows.append({"model": "popularity", "seed": seed, **pop})
        scored = [("popularity", *popularity_scores(split.train, num_users, num_items))]
        trained: list[tuple[Tensor, Tensor]] = []
        for name, ties in variants:

            def progress(record: dict[str, float], n: str = name, s: int = seed) -> None:
                if on_epoch is not None:
                    on_epoch(n, s, record)

            result = fit_lightgcn(
                split.train,
                split.valid,
                num_users,
                num_items,
                social=ties,
                config=replace(config, seed=seed),
                on_epoch=progress,
            )
            test = held_out_metrics(
                result.model, result.adjacency, split.test, [split.train, split.valid], k=config.k
            )
            report.rows.append(
                {
                    "model": name,
                    "seed": seed,
                    "best_epoch": result.best_epoch,
                    "train_s": result.seconds,
                    **test,
                }
            )
            with torch.no_grad():
                trained.append(result.model.split(result.model.get_embedding(result.adjacency)))
            scored.append((name, *trained[-1]))
        if len(trained) > 1:
            # the variants' scores summed: a dot product over their concatenated embeddings
            users = torch.cat([u for u, _ in trained], dim=1)
            items = torch.cat([i for _, i in trained], dim=1)
            both = rank_metrics(users, items, split.test, [split.train, split.valid], k=config.k)
            report.rows.append({"model": "ensemble", "seed": seed, **both})
        for name, users, items in scored if groups else ():
            for attribute, label, mask in members(groups or {}):
                target = split.test[:, mask[split.test[0]]]
                excluded = [split.train, split.valid]
                metrics = rank_metrics(users, items, target, excluded, k=config.k)
                report.by_group.append(
                    {"model": name, "seed": seed, "attribute": attribute, "group": label, **metrics}
                )
    return report
