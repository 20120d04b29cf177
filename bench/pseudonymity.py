"""Do pseudonymous snapshots change any figure? A snapshot's profiles and its evaluation, with
its ids and with pseudonyms, under the same seed.

    python -m bench.pseudonymity --snapshot out/lastfm-snapshot.pt   # bench.snapshots makes it
    python -m bench.pseudonymity --synthetic 2000

Prints, per figure, whether the two runs agree exactly, and writes
``out/bench/pseudonymity.json``. Runs on the CPU with one thread (``--threads``): with several,
the order of floating-point sums in sparse products varies from run to run, so even two runs
with the same ids differ in the last bits (``--control`` runs the ids twice to show it).

The sequence model trains without its wall-clock budget here: with it (a refresh's 90 s), how
far it trains depends on the machine's load, so on LastFM two runs with the *same* ids gave
different lists (``--control``: "recommendations DIFFERENT"), which read as a pseudonym effect.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from typing import Any

import torch


def compare(snapshot: Any, epochs: int, *, control: bool = False) -> dict[str, bool]:
    from engine.dimensions.next_steps import NextConfig
    from engine.evaluation.interest_prediction import evaluate_interest_prediction
    from engine.models.next_behaviour import SequenceConfig
    from engine.models.train import TrainConfig
    from engine.pipeline import PipelineConfig, run_full
    from jobs.pseudonyms import Pseudonyms, pseudonymise

    hidden = copy.deepcopy(snapshot)
    mapping = pseudonymise(hidden, None)
    if control:  # the same ids twice: what run-to-run noise alone looks like
        hidden = copy.deepcopy(snapshot)
        mapping = Pseudonyms(
            {
                "user": {u: u for u in snapshot.node_ids["user"]},
                "item": {i: i for i in snapshot.node_ids["item"]},
            }
        )
    # no wall-clock budget on either model: how far a budget lets it train is not a function
    # of the data (see the module docstring)
    config = PipelineConfig(
        train=TrainConfig(max_epochs=epochs, device="cpu", seed=0, time_budget_s=None),
        next=NextConfig(sequence=SequenceConfig(device="cpu", seed=0, time_budget_s=None)),
    )
    a, b = run_full(snapshot, config, run_id="ids"), run_full(hidden, config, run_id="pseudonyms")
    lists_a = [[s["item_id"] for s in slots] for slots in a.profiles.recommendations]
    lists_b = [
        [mapping.resolve("item", s["item_id"]) for s in slots]
        for slots in b.profiles.recommendations
    ]
    interest_a = evaluate_interest_prediction(snapshot, splits=(0.8,), k=10)
    interest_b = evaluate_interest_prediction(hidden, splits=(0.8,), k=10)
    return {
        "embedding": torch.equal(a.profiles.embedding, b.profiles.embedding),
        "influence": torch.equal(a.profiles.influence, b.profiles.influence),
        "interests": a.profiles.interests == b.profiles.interests,
        "segments": torch.equal(a.profiles.segment, b.profiles.segment),
        "churn": json.dumps(a.profiles.churn_probability)
        == json.dumps(b.profiles.churn_probability),
        "recommendations": lists_a == lists_b,
        "validation_recall": a.metrics["valid"] == b.metrics["valid"],
        "interest_prediction": json.dumps(interest_a, sort_keys=True)
        == json.dumps(interest_b, sort_keys=True),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshot", type=Path)
    parser.add_argument("--synthetic", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--control", action="store_true", help="ids against ids")
    parser.add_argument("--out", type=Path, default=Path("out/bench/pseudonymity.json"))
    args = parser.parse_args()
    from engine.snapshot import Snapshot
    from graph.datasets.synthetic import SyntheticConfig, generate, to_snapshot

    if args.snapshot:
        snapshot, source = Snapshot.load(args.snapshot), str(args.snapshot)
    else:
        data = generate(SyntheticConfig(n_users=args.synthetic or 2000, n_items=400, seed=0))
        snapshot, source = to_snapshot(data), f"synthetic {args.synthetic or 2000}"
    torch.set_num_threads(args.threads)
    same = compare(snapshot, args.epochs, control=args.control)
    for figure, agrees in same.items():
        print(f"{figure:22s} {'identical' if agrees else 'DIFFERENT'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "source": source,
                "epochs": args.epochs,
                "threads": args.threads,
                "control": args.control,
                "same": same,
            }
        )
    )
    raise SystemExit(0 if all(same.values()) else 1)


if __name__ == "__main__":
    main()
