"""What a customer writes, per user: overall sentiment, sentiment per category, keywords.

Reads the snapshot's :class:`engine.snapshot.ReviewDigest` (scores and term counts; the words
stayed in the graph) and returns the contract's review fields as columns:

- ``sentiment``: the mean score of the user's scored reviews (P(positive) in [0, 1]) and
  ``sentiment_reviews``, how many reviews with text it rests on (the uncertainty: one review
  is one review); ``negative_reviews``: those scored below 0.5; ``last_negative_review``:
  when the latest of them was written;
- ``sentiment_categories`` / ``category_sentiment``: the user's most reviewed categories (the
  item's primary category; at most ``TOP_CATEGORIES``) and the mean score in each;
- ``keywords`` / ``keyword_counts``: the terms that distinguish the user's words from everyone
  else's, by class-based TF-IDF (each user a class: a term's count in the user's reviews times
  log(1 + mean words per user / how often all users wrote it), the weights the run's text
  model fixed), with the counts behind them;
- ``sentiment_explanation``: the figures in words ("2 of 3 reviews read negative (shoes: 2 of
  2), the latest on 2026-11-24; scored by vader"), or why there is no sentiment.

Where no scorer ships for a language its reviews have no score: the user's sentiment is None
and the explanation gives the reason; the keywords still come.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import torch
from torch import Tensor

from engine.dimensions.columns import FieldColumns
from engine.interactions import primary_category
from engine.snapshot import Snapshot

TOP_CATEGORIES = 3
TOP_KEYWORDS = 5
NEGATIVE_BELOW = 0.5


def _per_user_sum(user: Tensor, values: Tensor, n: int) -> Tensor:
    return torch.zeros(n, dtype=torch.float64).index_add_(0, user, values.double())


def _keywords(snapshot: Snapshot, n: int) -> tuple[list[list[str]], list[list[float]]]:
    d = snapshot.reviews
    assert d is not None
    words: list[list[str]] = [[] for _ in range(n)]
    counts: list[list[float]] = [[] for _ in range(n)]
    if not d.term.numel():
        return words, counts
    v = len(d.terms)
    key, inverse = torch.unique(d.user[d.term_review] * v + d.term, return_inverse=True)
    tf = torch.zeros(key.numel(), dtype=torch.float64).index_add_(0, inverse, d.term_count.double())
    user, term = key // v, key % v
    weight = tf * d.term_weight.double()[term]
    # per user, by weight, ties to the term first in alphabetical order (terms are sorted)
    order = torch.argsort(term, stable=True)
    order = order[torch.argsort(-weight[order], stable=True)]
    order = order[torch.argsort(user[order], stable=True)]
    for u, t, c in zip(user[order].tolist(), term[order].tolist(), tf[order].tolist(), strict=True):
        if len(words[u]) < TOP_KEYWORDS:
            words[u].append(d.terms[t])
            counts[u].append(c)
    return words, counts


def review_columns(snapshot: Snapshot) -> FieldColumns | None:
    """The review fields of every snapshot user (None: the snapshot has no review digest)."""
    d = snapshot.reviews
    if d is None:
        return None
    n = snapshot.num_nodes("user")
    nan = float("nan")
    written = torch.bincount(d.user, minlength=n)
    scored = torch.isfinite(d.score)
    n_scored = torch.bincount(d.user[scored], minlength=n)
    total = _per_user_sum(d.user[scored], d.score[scored], n)
    sentiment = torch.where(n_scored > 0, total / n_scored.clamp(min=1), nan)
    negative = scored & (d.score < NEGATIVE_BELOW)
    n_negative = torch.bincount(d.user[negative], minlength=n).double()
    n_negative[n_scored == 0] = nan
    last_negative = torch.full((n,), -1, dtype=torch.long).scatter_reduce(
        0, d.user[negative], d.ts[negative], "amax"
    )
    # per (user, category): reviews, scored ones, their score sum, negatives
    category = primary_category(snapshot)[d.item]
    names = snapshot.node_ids.get("category", [])
    groups: dict[tuple[int, int], list[float]] = defaultdict(lambda: [0, 0, 0.0, 0])
    for u, c, s in zip(d.user.tolist(), category.tolist(), d.score.tolist(), strict=True):
        if c < 0:
            continue
        g = groups[(u, c)]
        g[0] += 1
        if s == s:
            g[1] += 1
            g[2] += s
            g[3] += s < NEGATIVE_BELOW
    by_user: dict[int, list[tuple[int, int, list[float]]]] = defaultdict(list)
    for (u, c), g in groups.items():
        by_user[u].append((c, int(g[0]), g))
    top_names: list[list[str] | None] = [None] * n
    top_scores: list[list[float] | None] = [None] * n
    top_text: list[str] = [""] * n
    for u, rows in by_user.items():
        rows.sort(key=lambda r: (-r[1], names[r[0]]))
        chosen = rows[:TOP_CATEGORIES]
        top_names[u] = [names[c] for c, _, _ in chosen]
        if all(g[1] for _, _, g in chosen):
            top_scores[u] = [g[2] / g[1] for _, _, g in chosen]
        c, _, g = chosen[0]
        if g[1]:
            top_text[u] = f" ({names[c]}: {int(g[3])} of {int(g[1])})"
    keywords, keyword_counts = _keywords(snapshot, n)
    explanation = [""] * n
    for u in torch.nonzero(written).flatten().tolist():
        languages = sorted({int(x) for x in d.language[d.user == u].tolist()})
        how = "; ".join(f"scored by {d.scorers[x]}" for x in languages)
        if not int(n_scored[u]):
            explanation[u] = f"{int(written[u])} reviews, no sentiment: {how}"
            continue
        sentence = f"{int(n_negative[u])} of {int(n_scored[u])} reviews read negative{top_text[u]}"
        if int(last_negative[u]) >= 0:
            day = datetime.fromtimestamp(int(last_negative[u]) / 1000, UTC).date()
            sentence += f", the latest on {day.isoformat()}"
        explanation[u] = f"{sentence}; {how}"
    return FieldColumns(
        {
            "sentiment": sentiment,
            "sentiment_reviews": torch.where(written > 0, written.double(), nan),
            "negative_reviews": n_negative,
            "last_negative_review": torch.where(last_negative >= 0, last_negative.double(), nan),
            "sentiment_categories": top_names,
            "category_sentiment": top_scores,
            "keywords": [k or None for k in keywords],
            "keyword_counts": [c or None for c in keyword_counts],
            "sentiment_explanation": explanation,
        }
    )


def review_summary(snapshot: Snapshot) -> dict[str, object]:
    """The run's review figures: reviews, writers, terms and each language's scorer."""
    d = snapshot.reviews
    if d is None:
        return {}
    return {
        "reviews": len(d),
        "writers": int(torch.unique(d.user).numel()),
        "terms": len(d.terms),
        "scorers": dict(zip(d.languages, d.scorers, strict=True)),
    }
