"""The engine's full run by stage (train, influence, profiles) on synthetic data, CPU or GPU.

    python -m bench.pipeline                                  # 10k users, 20 epochs
    python -m bench.pipeline --sizes 100000 --epochs 2        # CPU: ~3 min an epoch at 100k
    python -m bench.pipeline --sizes 100000 1000000 --device cuda

What a full refresh spends between export and write-back (``engine.pipeline.run_full``), with
no services: only training takes the device; influence and profile building run on the CPU.
Also records the batch and steps per epoch that training used (see ``max_steps_per_epoch``).
Prints a table and writes ``out/bench/pipeline.json``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.common import report
from engine.pipeline import PipelineConfig, run_full
from graph.datasets.synthetic import SyntheticConfig, generate, to_snapshot


def run_size(n_users: int, epochs: int, device: str) -> dict[str, Any]:
    started = time.perf_counter()
    data = SyntheticConfig(n_users=n_users, n_items=max(100, n_users // 5), seed=7)
    snapshot = to_snapshot(generate(data))
    row: dict[str, Any] = {"users": n_users, "generate_s": time.perf_counter() - started}
    config = PipelineConfig()
    config = replace(config, train=replace(config.train, device=device, max_epochs=epochs))
    started = time.perf_counter()
    result = run_full(snapshot, config, run_id=f"bench-{n_users}")
    row["total_s"] = time.perf_counter() - started
    row.update(result.timings)
    metrics = result.metrics
    row.update({key: metrics[key] for key in ("pairs", "epochs", "batch_size", "steps_per_epoch",
                                               "messages_per_s")})  # fmt: skip
    row["valid_recall@10"] = metrics["valid"].get("recall@10")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path("out/bench/pipeline.json"))
    args = parser.parse_args()
    rows = [run_size(n, args.epochs, args.device) for n in args.sizes]
    report("engine full run by stage (synthetic; columns = users)", rows, args.out, [
        "pairs", "generate_s", "total_s", "train_s", "influence_s", "profile_s", "epochs",
        "batch_size", "steps_per_epoch", "messages_per_s", "valid_recall@10",
    ])  # fmt: skip


if __name__ == "__main__":
    main()
