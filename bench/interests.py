"""Interest prediction beside its baselines, over several temporal cuts, and look-alikes beside
theirs: LastFM (a snapshot file) and the seeded synthetic shop; mean ± std over the cuts, the
users behind each figure, and the model fitted at each cut.

    python -m bench.interests --snapshot out/lastfm-snapshot.pt
    python -m bench.interests --synthetic 3000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from engine.evaluation.interest_prediction import evaluate_interest_prediction
from engine.evaluation.lookalikes import evaluate_lookalikes
from engine.snapshot import Snapshot
from graph.datasets.synthetic import SyntheticConfig, generate, to_snapshot


def run(snapshot: Snapshot, name: str, splits: tuple[float, ...]) -> dict[str, Any]:
    started = time.perf_counter()
    result = {
        "interest_prediction": evaluate_interest_prediction(snapshot, splits=splits),
        "lookalikes": evaluate_lookalikes(snapshot),
    }
    result["data"], result["seconds"] = name, time.perf_counter() - started
    return result


def show(result: dict[str, Any]) -> None:
    from jobs.report import to_markdown

    print(f"## {result['data']} ({result['seconds']:.0f} s)\n")
    print(to_markdown(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--snapshot", type=Path, action="append", default=[])
    parser.add_argument("--synthetic", type=int, action="append", default=[], help="users")
    parser.add_argument("--splits", type=float, nargs="+", default=[0.7, 0.8, 0.9])
    parser.add_argument("--out", type=Path, default=Path("out/bench/interests.json"))
    args = parser.parse_args()
    results = []
    for path in args.snapshot:
        results.append(run(Snapshot.load(path), path.stem, tuple(args.splits)))
    for users in args.synthetic:
        data = generate(SyntheticConfig(n_users=users, n_items=max(100, users // 5), seed=1))
        results.append(run(to_snapshot(data), f"synthetic-{users}", tuple(args.splits)))
    for result in results:
        show(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
