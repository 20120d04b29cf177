"""A run's evaluation on a snapshot file, without services: every temporal evaluation (interests,
look-alikes, influence global and per category, churn, value, propensity) beside its baselines,
as the report of ``profilegraph evaluate`` shows them (item ranking apart: ``bench.item_ranking``).

    python -m bench.evaluation --snapshot out/lastfm-snapshot.pt
    python -m bench.evaluation --synthetic 3000

The configuration is the one a refresh's evaluation uses (``jobs.recipe.evaluation_config``
from the default settings). Prints the markdown report, writes ``out/bench/evaluation.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from core.settings import Settings
from engine.evaluation.snapshot_evaluation import evaluate_snapshot
from engine.snapshot import Snapshot
from graph.datasets.synthetic import SyntheticConfig, generate, to_snapshot
from jobs.recipe import evaluation_config
from jobs.report import to_markdown


def run(snapshot: Snapshot, name: str) -> dict[str, Any]:
    config = evaluation_config(Settings(), item_ranking_seeds=(), max_epochs=1)
    started = time.perf_counter()
    result = evaluate_snapshot(
        snapshot, config, on_stage=lambda stage, _: print(f"[{name}] {stage}", flush=True)
    )
    return {"data": name, "seconds": time.perf_counter() - started, "evaluation": result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshot", type=Path, action="append", default=[])
    parser.add_argument("--synthetic", type=int, action="append", default=[], help="users")
    parser.add_argument("--out", type=Path, default=Path("out/bench/evaluation.json"))
    args = parser.parse_args()
    if not args.snapshot and not args.synthetic:
        parser.error("give --snapshot FILE or --synthetic N")
    results = [run(Snapshot.load(path), path.stem) for path in args.snapshot]
    for users in args.synthetic:
        data = generate(SyntheticConfig(n_users=users, n_items=max(50, users // 5), seed=0))
        results.append(run(to_snapshot(data), f"synthetic-{users}"))
    for result in results:
        print(f"\n## {result['data']} ({result['seconds']:.0f} s)\n")
        print(to_markdown(result["evaluation"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=str))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
