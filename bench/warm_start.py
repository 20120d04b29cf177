"""A warm start against a cold one: epochs and seconds to the cold model's validation quality.

    python -m bench.warm_start --snapshot out/lastfm-snapshot.pt --synthetic 20000
    python -m bench.warm_start --synthetic 100000 --changed 0.01 0.1 --seeds 0 1 2

Engine-only. Per data set and seed: the refresh's split (90/10 per user) and recipe (with
validation every epoch); a **cold** model trained until validation stops improving (the
target: 99 % of its best validation Recall@10); then for each share of *changed* users, a
**previous** model trained cold on the data as it was before the day's events (each changed
user's training interactions, but one, left out) and a **warm** model started from it
(``engine.models.warm_start``: known nodes keep their embedding, a node it did not know starts
among its neighbours) on today's data. Reported: the epochs and seconds each needs to reach the
target, the warm model's best Recall@10 beside the cold one's, mean and spread over seeds; and,
replayed on the same histories, where the refresh's own stopping rule (validation every
``eval_every`` epochs; ``patience`` epochs without a better one cold, ``warm_patience`` warm)
would have stopped each and the Recall@10 it would have kept (``--patience`` must leave the
histories long enough: 25 covers the refresh's 20).
Prints a table and writes ``out/bench/warm_start.json``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from bench.common import report
from engine.evaluation.split import split_per_user
from engine.interactions import interaction_pairs, social_ties
from engine.models.train import TrainConfig, TrainResult, train_lightgcn
from engine.models.warm_start import initial_embedding
from engine.snapshot import Snapshot
from graph.datasets.synthetic import SyntheticConfig, generate, to_snapshot

TARGET = 0.99  # of the cold model's best validation Recall@10


def _to_target(result: TrainResult, target: float) -> tuple[int | None, float | None]:
    """Epochs (1-based) and seconds (validation included) until validation Recall@10 reaches
    ``target``."""
    per_epoch = result.seconds / max(len(result.history), 1)
    for record in result.history:
        if record.get("valid_recall@10", -1.0) >= target:
            epochs = int(record["epoch"]) + 1
            return epochs, epochs * per_epoch
    return None, None


def _stopped(result: TrainResult, patience: int, every: int) -> tuple[int, float]:
    """Epochs run and the best validation Recall@10 kept had the run validated every
    ``every`` epochs and stopped after ``patience`` epochs without a better one (the rule of
    ``train_lightgcn``, replayed on the history of a run that validated every epoch: training
    does not depend on when it is validated)."""
    best, since = -1.0, 0
    for record in result.history:
        epoch = int(record["epoch"])
        if epoch % every == 0 and "valid_recall@10" in record:
            if record["valid_recall@10"] > best:
                best, since = record["valid_recall@10"], 0
            else:
                since += every
            if since >= patience:
                return epoch + 1, best
    return len(result.history), best


def _one(snapshot: Snapshot, seed: int, changed: list[float], config: TrainConfig) -> list[dict]:
    n_users, n_items = snapshot.num_nodes("user"), snapshot.num_nodes("item")
    pairs = interaction_pairs(snapshot)
    split = split_per_user(pairs[0], pairs[1], valid=0.1, test=0.0, seed=seed)
    social = social_ties(snapshot)
    config = replace(config, seed=seed)
    cold = train_lightgcn(split.train, split.valid, n_users, n_items, social=social, config=config)
    target = TARGET * cold.best_valid["recall@10"]
    cold_epochs, cold_seconds = _to_target(cold, target)
    rows = []
    ids = [str(u) for u in range(n_users)]
    items = [str(i) for i in range(n_items)]
    for share in changed:
        generator = torch.Generator().manual_seed(seed)
        who = torch.rand(n_users, generator=generator) < share
        # yesterday: of a changed user's training interactions only the first was there yet
        train = split.train
        order = torch.argsort(train[0], stable=True)
        ranked = train[0][order]
        first = torch.zeros(train.size(1), dtype=torch.bool)
        first[order] = torch.cat([torch.tensor([True]), ranked[1:] != ranked[:-1]])
        before = train[:, ~who[train[0]] | first]
        previous = train_lightgcn(
            before, split.valid[:, :0], n_users, n_items, social=social,
            config=replace(config, max_epochs=cold.best_epoch + 1),
        )  # fmt: skip
        init, _ = initial_embedding(
            previous.model.embedding.weight.detach(), ids, items, ids, items, train,
            dim=config.embedding_dim, seed=seed,
        )  # fmt: skip
        warm = train_lightgcn(
            train, split.valid, n_users, n_items, social=social, config=config, init=init
        )
        warm_epochs, warm_seconds = _to_target(warm, target)
        # the refresh's rule (TrainConfig's defaults): its cadence, its patience cold and warm
        refresh = TrainConfig()
        cold_run, cold_kept = _stopped(cold, refresh.patience, refresh.eval_every)
        warm_run, warm_kept = _stopped(warm, refresh.warm_patience, refresh.eval_every)
        # the next patience up (one more validation without a better score), for the choice
        longer = refresh.warm_patience + refresh.eval_every
        warm_run_longer, warm_kept_longer = _stopped(warm, longer, refresh.eval_every)
        rows.append(
            {
                "changed": share,
                "cold_recall": cold.best_valid["recall@10"],
                "warm_recall": warm.best_valid["recall@10"],
                "cold_epochs": cold_epochs,
                "warm_epochs": warm_epochs,
                "cold_s": cold_seconds,
                "warm_s": warm_seconds,
                "cold_epochs_run": len(cold.history),
                "warm_epochs_run": len(warm.history),
                "cold_run_refresh": cold_run,
                "warm_run_refresh": warm_run,
                "cold_kept_refresh": cold_kept,
                "warm_kept_refresh": warm_kept,
                "warm_over_cold_refresh": warm_kept / cold_kept if cold_kept > 0 else None,
                "warm_run_longer": warm_run_longer,
                "warm_over_cold_longer": (warm_kept_longer / cold_kept if cold_kept > 0 else None),
            }
        )
    return rows


def _summary(name: str, users: int, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for share in sorted({r["changed"] for r in runs}):
        mine = [r for r in runs if r["changed"] == share]
        row: dict[str, Any] = {"users": f"{name} {share:.0%}", "data": name, "n_users": users}
        for key in mine[0]:
            values = [r[key] for r in mine if r[key] is not None]
            if key == "changed" or not values:
                row[key] = share if key == "changed" else None
                continue
            row[key] = statistics.fmean(values)
            row[f"{key}_sd"] = statistics.pstdev(values) if len(values) > 1 else 0.0
            row[f"{key}_reached"] = f"{len(values)}/{len(mine)}"
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshot", type=Path, nargs="*", default=[])
    parser.add_argument("--synthetic", type=int, nargs="*", default=[])
    parser.add_argument("--changed", type=float, nargs="+", default=[0.01, 0.1])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-epochs", type=int, default=60)
    parser.add_argument("--patience", type=int, default=25)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=Path("out/bench/warm_start.json"))
    args = parser.parse_args()
    config = TrainConfig(  # every run validated each epoch, long enough to replay the rules
        max_epochs=args.max_epochs,
        patience=args.patience,
        warm_patience=args.patience,
        eval_every=1,
        device=args.device,
    )
    sets: list[tuple[str, Snapshot]] = [(p.stem, Snapshot.load(p)) for p in args.snapshot]
    sets += [
        (f"synthetic-{n}", to_snapshot(generate(SyntheticConfig(n_users=n, seed=0))))
        for n in args.synthetic
    ]
    rows = []
    console = Console()
    started = time.perf_counter()
    todo, done = len(sets) * len(args.seeds), 0
    for name, snapshot in sets:
        runs = []
        for seed in args.seeds:
            runs += _one(snapshot, seed, args.changed, config)
            done += 1
            left = (time.perf_counter() - started) / done * (todo - done)
            console.print(f"{name} seed {seed} done ({done}/{todo}, about {left:.0f} s left)")
        rows += _summary(name, snapshot.num_nodes("user"), runs)
    metrics = [
        "n_users", "changed", "cold_recall", "warm_recall", "cold_epochs", "warm_epochs",
        "cold_epochs_reached", "warm_epochs_reached", "cold_s", "warm_s",
        "cold_run_refresh", "warm_run_refresh", "cold_kept_refresh", "warm_kept_refresh",
        "warm_over_cold_refresh", "warm_run_longer", "warm_over_cold_longer",
    ]  # fmt: skip
    report("warm start against cold start (mean over seeds)", rows, args.out, metrics)


if __name__ == "__main__":
    main()
