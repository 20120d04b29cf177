"""The stages that run on the device, there and on the CPU: the same result, and the time each.

    python -m bench.device_parity                      # 20k synthetic users
    python -m bench.device_parity --users 100000

On the synthetic shop (in memory, no services): the influence choice (its model fitted on each
device), then the next-behaviour stage (one sequence model, trained once on the CPU; its
predictions and the recommendation lists computed on each device from the same model and the
same item-ranking embeddings). For each device: seconds per stage; against the CPU: the
influence scores' Spearman correlation and largest relative difference, the share of
recommendation slots with the same item, and the largest difference in the next-category
probabilities. Without CUDA only the CPU column is measured. Prints a table and writes
``out/bench/device_parity.json``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from bench.common import report
from engine.dimensions.next_steps import NextColumns, NextConfig, fit_next, next_columns
from engine.evaluation.influence_evaluation import spearman
from engine.pipeline import PipelineConfig, snapshot_adoptions, snapshot_influence
from graph.datasets.synthetic import SyntheticConfig, generate, to_snapshot


def _timed(run: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    out = run(*args, **kwargs)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - started


def _slots(cols: NextColumns) -> list[str | None]:
    return [slot["item_id"] for row in cols.recommendations for slot in row]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=Path("out/bench/device_parity.json"))
    args = parser.parse_args()
    data = generate(SyntheticConfig(n_users=args.users, n_items=max(100, args.users // 5), seed=7))
    snapshot = to_snapshot(data)
    base = PipelineConfig()
    sequence = replace(base.next.sequence, max_epochs=2, device="cpu")
    model = fit_next(snapshot, NextConfig(sequence=sequence))
    if model is None:
        raise SystemExit("the synthetic shop gave no sequences to train on")
    users = torch.arange(snapshot.num_nodes("user"))
    g = torch.Generator().manual_seed(0)
    ranking = (
        torch.randn(snapshot.num_nodes("user"), 64, generator=g),
        torch.randn(snapshot.num_nodes("item"), 64, generator=g),
    )
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows: list[dict[str, Any]] = []
    reference: dict[str, Any] = {}
    for device in devices:
        config = replace(base, train=replace(base.train, device=device))
        actions, adopted = snapshot_adoptions(snapshot, config)
        choice, influence_s = _timed(snapshot_influence, snapshot, actions, adopted, config)
        model.config = {**model.config, "device": device}
        cols, next_s = _timed(next_columns, snapshot, model, config.next, users, ranking=ranking)
        probabilities = torch.tensor(
            [p for row in cols.next_category_probabilities if row for p in row]
        )
        row: dict[str, Any] = {
            "users": device,
            "influence_s": influence_s,
            "next_lists_s": next_s,
            "influence_shipped": choice.shipped,
        }
        if device == "cpu":
            reference = {"influence": choice.score, "slots": _slots(cols), "p": probabilities}
        else:
            slots = _slots(cols)
            same = sum(a == b for a, b in zip(slots, reference["slots"], strict=False))
            scale = reference["influence"].abs().clamp_min(1e-6)
            row |= {
                "influence_spearman_vs_cpu": spearman(choice.score, reference["influence"]),
                "influence_max_rel_diff": float(
                    ((choice.score - reference["influence"]).abs() / scale).max()
                ),
                "same_slot_share": same / max(len(reference["slots"]), 1),
                "next_category_p_max_diff": float((probabilities - reference["p"]).abs().max())
                if probabilities.shape == reference["p"].shape
                else float("nan"),
            }
        rows.append(row)
    metrics = [
        "influence_s",
        "next_lists_s",
        "influence_shipped",
        "influence_spearman_vs_cpu",
        "influence_max_rel_diff",
        "same_slot_share",
        "next_category_p_max_diff",
    ]
    report(f"device parity at {args.users:,} synthetic users", rows, args.out, metrics)


if __name__ == "__main__":
    main()
