"""Does a change leave the profiles as they were? The engine's full refresh, value by value.

    python -m bench.same_profiles --snapshot out/lastfm-snapshot.pt --epochs 5 --save /tmp/a.pt
    (at another commit, e.g. in a git worktree, with PYTHONPATH pointing at it)
    python -m bench.same_profiles --snapshot out/lastfm-snapshot.pt --epochs 5 --against /tmp/a.pt
    python -m bench.same_profiles --synthetic 3000       # the same commit twice: deterministic?

Runs ``engine.pipeline.run_full`` on the snapshot with the deployment's recipe (a fixed seed,
``--epochs`` at most, one CPU thread so that float sums come out the same) and keeps every
column of the result's profiles and its metrics. With ``--save`` the values go to a file;
with ``--against`` they are compared with a saved file; with neither, the run is repeated
and compared with itself. Timings (seconds, rates, estimates) are left out of the comparison.
Prints and writes (``--out``) how many values were compared and which differ.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import torch

from core.profile_contract import COLUMNS
from core.settings import Settings
from engine.pipeline import run_full
from engine.snapshot import Snapshot
from graph.datasets.synthetic import SyntheticConfig, generate, to_snapshot
from jobs.recipe import pipeline_config

TIMINGS = ("seconds", "per_s", "eta_s", "timings")  # keys whose values are clock readings


def _plain(value: Any) -> Any:
    """Tensors as they are; dataclasses, dicts and lists as plain containers of them."""
    if isinstance(value, torch.Tensor):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def profiles(snapshot: Snapshot, epochs: int) -> dict[str, Any]:
    """Every profile column of a full run, and its metrics."""
    torch.set_num_threads(1)
    config = pipeline_config(Settings(), max_epochs=epochs)
    result = run_full(snapshot, config, run_id="same-profiles")
    out = {key: _plain(getattr(result.profiles, key)) for key in COLUMNS}
    out["metrics"] = _plain(result.metrics)
    return out


def _same_tensor(a: torch.Tensor, b: Any) -> bool:
    if not isinstance(b, torch.Tensor) or a.shape != b.shape or a.dtype != b.dtype:
        return False
    if not a.is_floating_point():
        return bool(torch.equal(a, b))
    nan = a.isnan()
    return bool(torch.equal(nan, b.isnan()) and torch.equal(a[~nan], b[~nan]))


def differences(a: Any, b: Any, path: str = "") -> tuple[int, list[str]]:
    """How many values were compared, and the paths where ``a`` and ``b`` differ (NaN equals
    NaN; tensors must agree in shape, type and every element)."""
    if any(t in path for t in TIMINGS):
        return 0, []
    if isinstance(a, torch.Tensor):
        return max(a.numel(), 1), [] if _same_tensor(a, b) else [path]
    if isinstance(a, dict):
        if not isinstance(b, dict) or set(a) != set(b):
            return 1, [f"{path} (keys)"]
        pairs = [differences(a[k], b[k], f"{path}/{k}") for k in sorted(a)]
    elif isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return 1, [f"{path} (length)"]
        pairs = [
            differences(x, y, f"{path}[{i}]") for i, (x, y) in enumerate(zip(a, b, strict=True))
        ]
    else:
        nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
        return 1, [] if a == b or nan else [f"{path}: {a!r} vs {b!r}"]
    return sum(n for n, _ in pairs), [d for _, found in pairs for d in found]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshot", type=Path, help="a snapshot file (bench.snapshots)")
    parser.add_argument("--synthetic", type=int, default=0, help="else: the synthetic shop")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--save", type=Path, help="keep this run's values in this file")
    parser.add_argument("--against", type=Path, help="compare with a file --save wrote")
    parser.add_argument("--out", type=Path, default=Path("out/bench/same_profiles.json"))
    args = parser.parse_args()
    if args.snapshot is not None:
        snapshot = Snapshot.load(args.snapshot)
    elif args.synthetic:
        snapshot = to_snapshot(generate(SyntheticConfig(n_users=args.synthetic, seed=0)))
    else:
        parser.error("give --snapshot or --synthetic")
    mine = profiles(snapshot, args.epochs)
    if args.save is not None:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        torch.save(mine, args.save)
    other = (
        torch.load(args.against, weights_only=True)
        if args.against is not None
        else profiles(snapshot, args.epochs)
    )
    compared, differ = differences(other, mine)
    table = {
        "data": str(args.snapshot or f"synthetic-{args.synthetic}"),
        "epochs": args.epochs,
        "against": str(args.against) if args.against else "the same commit, run again",
        "values": compared,
        "differ": len(differ),
        "first_differences": differ[:30],
    }
    print(json.dumps(table, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
