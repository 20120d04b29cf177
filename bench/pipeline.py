"""The engine's full run by stage (train, influence, profiles) on synthetic data, CPU or GPU.

    python -m bench.pipeline                                  # 10k users, 20 epochs
    python -m bench.pipeline --sizes 100000 --epochs 2        # CPU: ~3 min an epoch at 100k
    python -m bench.pipeline --sizes 100000 1000000 --device cuda
    python -m bench.pipeline --snapshot out/lastfm-snapshot.pt --epochs 60   # a snapshot file

What a full refresh spends between export and write-back (``engine.pipeline.run_full``), with
no services: only training takes the device; influence and profile building run on the CPU.
Also records the batch and steps per epoch that training used (see ``max_steps_per_epoch``).
Prints a table and writes ``out/bench/pipeline.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from bench.common import report
from core.settings import Settings
from engine.device import pick_device
from engine.pipeline import run_full
from engine.snapshot import Snapshot
from graph.datasets.synthetic import SyntheticConfig, generate, to_snapshot
from jobs.recipe import pipeline_config


def run_size(n_users: int, epochs: int, device: str) -> dict[str, Any]:
    started = time.perf_counter()
    data = SyntheticConfig(n_users=n_users, n_items=max(100, n_users // 5), seed=7)
    snapshot = to_snapshot(generate(data))
    row = {"users": n_users, "generate_s": time.perf_counter() - started}
    return row | run_snapshot(snapshot, epochs, device)


def run_snapshot(snapshot: Snapshot, epochs: int, device: str) -> dict[str, Any]:
    row: dict[str, Any] = {"device": str(pick_device(device))}
    # the refresh's own recipe (default settings), on the chosen device
    settings = Settings(training={"device": device})
    config = pipeline_config(settings, max_epochs=epochs)
    started = time.perf_counter()
    result = run_full(snapshot, config, run_id="bench")
    row["total_s"] = time.perf_counter() - started
    row.update(result.timings)
    metrics = result.metrics
    row.update(
        {
            key: metrics[key]
            for key in ("pairs", "epochs", "batch_size", "steps_per_epoch", "messages_per_s")
        }
    )
    row["valid_recall@10"] = metrics["valid"].get("recall@10")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--snapshot", type=Path, help="time this snapshot file instead (LastFM)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path("out/bench/pipeline.json"))
    args = parser.parse_args()
    if args.snapshot:
        rows = [
            {"users": args.snapshot.stem}
            | run_snapshot(Snapshot.load(args.snapshot), args.epochs, args.device)
        ]
    else:
        rows = [run_size(n, args.epochs, args.device) for n in args.sizes]
    report(
        "engine full run by stage (columns = users)",
        rows,
        args.out,
        [
            "device",
            "pairs",
            "generate_s",
            "total_s",
            "train_s",
            "influence_s",
            "profile_s",
            "epochs",
            "batch_size",
            "steps_per_epoch",
            "messages_per_s",
            "valid_recall@10",
        ],
    )


if __name__ == "__main__":
    main()
