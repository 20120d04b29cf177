"""Sentiment scorers against the stars on held-out reviews, per data set and language.

    python -m bench.sentiment                         # Yelp 10k, Amazon Fashion, Douban; 3 seeds
    python -m bench.sentiment --sets douban --seeds 0 1 2 3 4

Engine-only (reads ``../shared/datasets/reviews/`` in place). Per set: the shipped scorer of
its language (VADER for English, SnowNLP for Chinese), the model fitted on the set's own
training reviews, and the constant floor; test AUC (positive vs negative reviews) and Spearman
with the stars, mean and spread over seeds; the validation comparison that decides which one
ships (``engine.evaluation.sentiment_evaluation``). Prints a table and writes
``out/bench/sentiment.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from engine.evaluation.sentiment_evaluation import RatedTexts, evaluate_sentiment
from graph.datasets import DATASETS
from graph.datasets.reviews import read_reviews

SETS = ("yelp", "amazon-fashion", "douban")


def rated(name: str, path: Path, limit: int | None) -> RatedTexts:
    rows = [r for r in read_reviews(name, path) if r.text and r.stars is not None]
    rows = rows[:limit] if limit else rows
    return RatedTexts(
        [r.text for r in rows],  # type: ignore[misc]
        [r.stars for r in rows],  # type: ignore[misc]
        rows[0].language,
        [r.user_id for r in rows],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--limit", type=int, default=None, help="reviews per set (tiny runs)")
    parser.add_argument("--min-train", type=int, default=200)
    parser.add_argument(
        "--datasets", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets"
    )
    parser.add_argument("--out", type=Path, default=Path("out/bench/sentiment.json"))
    args = parser.parse_args()
    results = []
    for name in args.sets:
        started = time.perf_counter()
        data = rated(name, args.datasets / DATASETS[name].default, args.limit)
        result = evaluate_sentiment(data, seeds=args.seeds, min_train=args.min_train)
        results.append({"set": name, **result, "seconds": time.perf_counter() - started})
    table = Table(title="sentiment against the stars (held-out reviews)")
    for column in ("set", "language", "reviews", "scorer", "test AUC", "test Spearman", "ships"):
        table.add_column(column)
    for r in results:
        for scorer, m in r["scorers"].items():
            spearman = (
                f"{m['test_spearman']:.3f} ± {m['test_spearman_sd']:.3f}"
                if m["test_spearman"] is not None
                else "-"
            )
            table.add_row(
                r["set"],
                r["language"],
                str(r["reviews"]),
                scorer,
                f"{m['test_auc']:.3f} ± {m['test_auc_sd']:.3f}",
                spearman,
                "yes" if scorer == r["ships"] else "",
            )
    console = Console()
    console.print(table)
    for r in results:
        console.print(f"{r['set']}: fitted vs shipped on validation: {r['fitted_vs_shipped']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"bench": "sentiment", "rows": results}, indent=2))
    console.print(f"written {args.out}")
    for r in results:
        if r["ships"] == "none":
            console.print(f"{r['set']}: no sentiment ships: {r['reason']}")
    if any(r["ships"] != "none" and r["scorers"][r["ships"]]["test_auc"] <= 0.5 for r in results):
        raise SystemExit("a scorer chosen on validation does no better than the constant on test")


if __name__ == "__main__":
    main()
