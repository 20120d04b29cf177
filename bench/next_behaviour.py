"""Next behaviour and recommendations beside their baselines, and what they cost at scale.

    python -m bench.next_behaviour --snapshot out/taobao-snapshot.pt \
        --snapshot out/lastfm-snapshot.pt --synthetic 5000 --lightgcn
    python -m bench.next_behaviour --scale 100000          # throughput and added refresh time

Per data set, over cuts x seeds (``engine.evaluation.next_behaviour_evaluation``): next-category and
next-item HR@10 / NDCG@10 of popularity, repeat-last, own-frequent, the item ranking (LightGCN
with friendships, ``--lightgcn``), the sequence model without and with the friends' mix, the
social gain with its spread, and the recommendation lists' trade-off over exploration shares
(Thompson against random exploration). ``--scale N`` times the refresh's next step on a
synthetic shop of N users: training (sequences/s), scoring and the lists for every user.
Engine-only (torch and numpy): runs on the GPU machine from snapshot files. Writes JSON (and a
plot of the trade-off where matplotlib is installed) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from core.settings import Settings
from engine.dimensions.next_steps import NextConfig, fit_next, next_columns
from engine.dimensions.recommendations import RecommendConfig
from engine.evaluation.next_behaviour_evaluation import evaluate_next_behaviour, to_markdown
from engine.evaluation.recommendation_evaluation import summarise
from engine.models.next_behaviour import SequenceConfig
from engine.snapshot import Snapshot
from graph.datasets.synthetic import SyntheticConfig, generate, to_snapshot
from jobs.recipe import next_config, train_config


def lists_markdown(rows: list[dict[str, Any]]) -> str:
    cols = ("recall", "ndcg", "cold_recall", "coverage", "novelty", "diversity", "discovery")
    lines = [
        "| share | exploration | " + " | ".join(cols) + " |",
        "|---" * (len(cols) + 2) + "|",
    ]
    for row in rows:
        cells = []
        for c in cols:
            v = row[c]
            cells.append("-" if v != v else f"{v:.3f} ± {row[c + '_std']:.3f}")
        lines.append(f"| {row['share']:.0%} | {row['strategy']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def evaluate(name: str, snapshot: Snapshot, args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    # the refresh's recipe (jobs.recipe), without its wall-clock budget: a figure must not
    # depend on how fast the machine is; --epochs / --lightgcn-epochs override the epochs
    settings = Settings()
    sequence = next_config(settings).sequence
    config = replace(
        sequence,
        device=args.device,
        max_epochs=args.epochs or sequence.max_epochs,
        time_budget_s=None,
    )
    recipe = train_config(settings)
    lightgcn = (
        replace(
            recipe,
            device=args.device,
            max_epochs=args.lightgcn_epochs or recipe.max_epochs,
            time_budget_s=None,
        )
        if args.lightgcn
        else None
    )
    report = evaluate_next_behaviour(
        snapshot,
        cuts=tuple(args.cuts),
        seeds=tuple(range(args.seeds)),
        config=config,
        lightgcn=lightgcn,
        recommendations=RecommendConfig(),
    )
    lists = summarise(report.lists)
    print(f"\n## {name}\n\n{report.data}\n")
    print(to_markdown(report))
    print(
        "\nRecommendation lists (exploit: the social sequence model"
        + (" + LightGCN" if args.lightgcn else "")
        + "):\n"
    )
    print(lists_markdown(lists))
    return {
        "name": name,
        "data": report.data,
        "summary": report.summary(),
        "runs": report.runs,
        "lists": lists,
        "seconds": time.perf_counter() - started,
    }


def scale(n_users: int, args: argparse.Namespace) -> dict[str, Any]:
    """The refresh's next step on a synthetic shop of ``n_users``."""
    tic = time.perf_counter()
    snapshot = to_snapshot(
        generate(SyntheticConfig(n_users=n_users, n_items=max(2000, n_users // 10)))
    )
    made = time.perf_counter() - tic
    config = NextConfig(
        sequence=SequenceConfig(device=args.device, max_epochs=args.scale_epochs, patience=100),
    )
    tic = time.perf_counter()
    model = fit_next(snapshot, config)
    fit_s = time.perf_counter() - tic
    assert model is not None
    tic = time.perf_counter()
    cols = next_columns(snapshot, model, config, torch.arange(snapshot.num_nodes("user")))
    score_s = time.perf_counter() - tic
    users = snapshot.num_nodes("user")
    out = {
        "users": users,
        "items": snapshot.num_nodes("item"),
        "actions": len(snapshot.actions or []),
        "device": str(
            torch.cuda.get_device_name()
            if torch.cuda.is_available() and args.device != "cpu"
            else "cpu"
        ),
        "generate_s": made,
        "train_s": fit_s,
        "train_epochs": model.fit["epochs"],
        "train_sequences_per_s": model.fit["sequences_per_s"],
        "score_and_lists_s": score_s,
        "users_per_s": users / score_s,
        "added_refresh_s": fit_s + score_s,
        "explore_slots": len(cols.shown),
    }
    print(f"\n## scale: {json.dumps(out, indent=1)}")
    return out


def plot(results: list[dict[str, Any]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for res in results:
        for strategy, style in (("thompson", "-o"), ("random", "--x")):
            rows = [r for r in res["lists"] if r["strategy"] in (strategy, "none")]
            shares = [r["share"] for r in rows]
            axes[0].plot(
                shares, [r["recall"] for r in rows], style, label=f"{res['name']} {strategy}"
            )
            axes[1].plot(
                shares, [r["discovery"] for r in rows], style, label=f"{res['name']} {strategy}"
            )
    axes[0].set(xlabel="exploration share", ylabel="Recall@10", title="accuracy")
    axes[1].set(xlabel="exploration share", ylabel="discovery rate", title="discovery")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshot", type=Path, action="append", default=[])
    parser.add_argument("--synthetic", type=int, default=0, help="users of a synthetic shop")
    parser.add_argument("--scale", type=int, default=0, help="users for the throughput run")
    parser.add_argument("--cuts", type=float, nargs="+", default=[0.7, 0.8, 0.9])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=0, help="0: the refresh's")
    parser.add_argument("--scale-epochs", type=int, default=3)
    parser.add_argument("--lightgcn", action="store_true")
    parser.add_argument("--lightgcn-epochs", type=int, default=0, help="0: the refresh's")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path("out/bench"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for path in args.snapshot:
        results.append(evaluate(path.stem.replace("-snapshot", ""), Snapshot.load(path), args))
    if args.synthetic:
        ds = generate(
            SyntheticConfig(n_users=args.synthetic, n_items=max(500, args.synthetic // 5))
        )
        results.append(evaluate(f"synthetic-{args.synthetic}", to_snapshot(ds), args))
    scaled = scale(args.scale, args) if args.scale else None
    meta = {
        "machine": platform.node(),
        "cpus": os.cpu_count(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "when": time.strftime("%FT%T"),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    out = args.out / "next_behaviour.json"
    out.write_text(
        json.dumps({"meta": meta, "results": results, "scale": scaled}, indent=1, default=str)
    )
    if results:
        plot(results, args.out / "next_behaviour_tradeoff.png")
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
