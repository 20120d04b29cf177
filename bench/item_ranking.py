"""Item ranking on a snapshot (LastFM by default): popularity, LightGCN, LightGCN + social.

    python -m bench.item_ranking                                  # out/lastfm-snapshot.pt
    python -m bench.item_ranking --seeds 0 1 2 --patience 150 --lr 1e-3

The published protocol (see engine.evaluation.item_ranking); engine-only, so it runs on a GPU
machine that
has nothing but the snapshot file. Prints the table and writes out/bench/item_ranking.json.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import report
from core.vocabulary import LISTENED
from engine.evaluation.item_ranking import evaluate_item_ranking
from engine.interactions import interaction_pairs, social_ties
from engine.models.train import TrainConfig
from engine.snapshot import Snapshot


def _progress(started: float) -> Callable[[str, int, dict[str, float]], None]:
    def show(model: str, seed: int, record: dict[str, float]) -> None:
        if int(record["epoch"]) % 100 == 0:
            recall = record.get("valid_recall@10", float("nan"))
            print(
                f"{time.perf_counter() - started:7.1f}s {model} seed {seed} "
                f"epoch {int(record['epoch'])} valid R@10 {recall:.4f}",
                flush=True,
            )

    return show


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--snapshot", type=Path, default=Path("out/lastfm-snapshot.pt"))
    parser.add_argument("--relation", nargs="+", default=[LISTENED])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=1500)
    parser.add_argument("--patience", type=int, default=150)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--models", nargs="+", default=["lightgcn", "lightgcn+social"])
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--negatives", type=int, default=1, help="uniform negatives per positive")
    parser.add_argument(
        "--candidates",
        type=int,
        default=TrainConfig.negative_candidates,
        help="hardest of this many uniform draws per negative (1 = uniform)",
    )
    parser.add_argument("--weight-decay", type=float, default=TrainConfig.weight_decay)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path("out/bench/item_ranking.json"))
    args = parser.parse_args()
    data = Snapshot.load(args.snapshot)
    config = TrainConfig(
        max_epochs=args.epochs,
        patience=args.patience,
        lr=args.lr,
        eval_every=args.eval_every,
        device=args.device,
        num_layers=args.layers,
        negatives=args.negatives,
        negative_candidates=args.candidates,
        weight_decay=args.weight_decay,
        batch_size=args.batch_size,
    )
    started = time.perf_counter()
    result = evaluate_item_ranking(
        interaction_pairs(data, args.relation),
        data.num_nodes("user"),
        data.num_nodes("item"),
        social=social_ties(data),
        seeds=args.seeds,
        config=config,
        models=args.models,
        on_epoch=_progress(started),
    )
    print(result.to_markdown())
    rows = [{"users": model, **m} for model, m in result.summary().items()]
    for row in rows:
        row["seconds"] = time.perf_counter() - started
        row["lr"], row["patience"] = args.lr, args.patience
    report(
        "item ranking (columns = model)",
        rows,
        args.out,
        ["recall@10", "recall@10_std", "ndcg@10", "ndcg@10_std", "lr", "patience"],
    )
    args.out.with_name(args.out.stem + "_runs.json").write_text(json.dumps(result.rows, indent=2))


if __name__ == "__main__":
    main()
