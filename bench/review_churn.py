"""Does a negative review precede a customer going quiet? And which words mark a group?

    python -m bench.review_churn                      # Yelp 10k, Amazon Fashion, Douban
    python -m bench.review_churn --sets amazon-fashion --limit 1000

Engine-only (reads ``../shared/datasets/reviews/`` in place). Per set:

- **churn gain** (``engine.evaluation.sentiment_churn``): the churn model on behaviour alone,
  with the stars, with the text's sentiment (the language's packaged scorer), with both; AUC
  per cut, mean and spread over the cuts, the paired gains with their intervals and whether
  the text features would ship;
- **keywords** (``engine.dimensions.review_profile.class_keywords``, the vocabulary of words at
  least five writers used): what distinguishes the 1-2 star reviews from the 4-5 star ones,
  the three most reviewed categories' (where a set names them; none of these three does: the
  films of Douban's movies.csv are not the ones commented on) or items', and the two most
  prolific writers' (named by rank, never by id).

Prints the tables and writes ``out/bench/review_churn.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from engine.dimensions.review_profile import class_keywords
from engine.dimensions.review_text import LanguageScorer, ReviewRows, TextModel, vocabulary
from engine.dimensions.sentiment import shipped_score
from engine.evaluation.sentiment_churn import (
    GAINS,
    METHODS,
    TimedReviews,
    evaluate_sentiment_churn,
)
from graph.datasets import DATASETS
from graph.datasets.reviews import Review, read_reviews

SETS = ("yelp", "amazon-fashion", "douban")
MIN_WRITERS = 5


def _index(values: list[str]) -> tuple[torch.Tensor, list[str]]:
    names = sorted(set(values))
    where = {v: i for i, v in enumerate(names)}
    return torch.tensor([where[v] for v in values], dtype=torch.long), names


def _reviews(name: str, path: Path, limit: int | None) -> list[Review]:
    rows = [
        r
        for r in read_reviews(name, path)
        if r.text and r.stars is not None and r.ts_ms is not None
    ]
    return rows[:limit] if limit else rows


def keywords(rows: list[Review], k: int) -> dict[str, Any]:
    user, _ = _index([r.user_id for r in rows])
    item, _ = _index([r.item_id for r in rows])
    language = rows[0].language
    text_rows = ReviewRows(
        user,
        item,
        torch.tensor([r.ts_ms for r in rows]),
        torch.tensor([float(r.stars or 0) for r in rows]),
        [r.text or "" for r in rows],
        [r.language for r in rows],
    )
    none = {language: LanguageScorer("none", "keywords only")}
    digest = TextModel(none, *vocabulary(text_rows, MIN_WRITERS)).digest(text_rows)
    stars = text_rows.stars
    star_class = torch.where(stars <= 2, 0, torch.where(stars >= 4, 1, -1))
    words, counts = class_keywords(digest, star_class, 2, k=k)
    out: dict[str, Any] = {
        "terms": len(digest.terms),
        "by_stars": {
            "1-2 stars": list(zip(words[0], counts[0], strict=True)),
            "4-5 stars": list(zip(words[1], counts[1], strict=True)),
        },
    }
    # the categories, where the set names them; else the items (a business, a film, a product)
    named = any(r.category for r in rows)
    group, names = _index([(r.category or "") if named else r.item_id for r in rows])
    words, counts = class_keywords(digest, group, len(names), k=k)
    sizes = torch.bincount(group, minlength=len(names))
    top = [c for c in torch.argsort(sizes, descending=True, stable=True).tolist() if names[c]][:3]
    out["by_category" if named else "by_item"] = {
        f"{'category' if named else 'item'} {rank + 1} ({int(sizes[c])} reviews)": list(
            zip(words[c], counts[c], strict=True)
        )
        for rank, c in enumerate(top)
    }
    prolific = torch.argsort(torch.bincount(user), descending=True, stable=True)[:2].tolist()
    words, counts = class_keywords(
        digest, user, int(user.max()) + 1, k=k, background=digest.term_written
    )
    out["writers"] = {
        f"writer {rank + 1} ({int((user == u).sum())} reviews)": list(
            zip(words[u], counts[u], strict=True)
        )
        for rank, u in enumerate(prolific)
    }
    return out


def churn(rows: list[Review]) -> dict[str, Any]:
    user, _ = _index([r.user_id for r in rows])
    item, _ = _index([r.item_id for r in rows])
    score = torch.tensor([shipped_score(r.text or "", r.language) for r in rows])
    reviews = TimedReviews(
        user,
        item,
        torch.tensor([r.ts_ms for r in rows], dtype=torch.long),
        torch.tensor([float(r.stars or 0) for r in rows]),
        score,
    )
    return evaluate_sentiment_churn(reviews)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--limit", type=int, default=None, help="reviews per set (tiny runs)")
    parser.add_argument("--keywords", type=int, default=8, help="keywords per group")
    parser.add_argument(
        "--datasets", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets"
    )
    parser.add_argument("--out", type=Path, default=Path("out/bench/review_churn.json"))
    args = parser.parse_args()
    console = Console(width=240)
    results = []
    for name in args.sets:
        started = time.perf_counter()
        rows = _reviews(name, args.datasets / DATASETS[name].default, args.limit)
        results.append(
            {
                "set": name,
                "language": rows[0].language,
                "churn": churn(rows),
                "keywords": keywords(rows, args.keywords),
                "seconds": time.perf_counter() - started,
            }
        )
    table = Table(title="churn AUC with and without what customers write (mean ± sd over cuts)")
    for column in (
        "set",
        "horizon (d)",
        "cuts",
        "at risk",
        *METHODS,
        *(f"{a} - {b}" for a, b in GAINS),
    ):
        table.add_column(column)
    for r in results:
        c = r["churn"]
        s, g = c["summary"], c["gains"]
        at_risk = [row["at_risk"] for row in c["rows"]]
        table.add_row(
            r["set"],
            f"{c['horizon_days']:.0f}",
            str(c["cuts"]),
            f"{min(at_risk)}-{max(at_risk)}" if at_risk else "-",
            *(f"{s[m]['auc']:.3f} ± {s[m]['auc_sd']:.3f}" if m in s else "-" for m in METHODS),
            *(
                f"{g[k]['difference']:+.3f} [{g[k]['low']:+.3f}, {g[k]['high']:+.3f}] "
                f"{g[k]['verdict']}"
                if (k := f"{a} vs {b}") in g
                else "too few at risk"
                for a, b in GAINS
            ),
        )
    console.print(table)
    for r in results:
        for group, entries in r["keywords"].items():
            if not isinstance(entries, dict):
                continue
            for label, words in entries.items():
                shown = ", ".join(f"{w} ({c:.0f})" for w, c in words)
                console.print(f"{r['set']} {group} {label}: {shown}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"bench": "review churn and keywords", "rows": results}, indent=2, ensure_ascii=False
        )
    )
    console.print(f"written {args.out}")


if __name__ == "__main__":
    main()
