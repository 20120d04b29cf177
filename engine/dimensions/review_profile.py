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
  else's (:func:`class_keywords`: weighted log-odds against how often all users wrote each
  term, the background the run's text model fixed), with the counts behind them; the same
  function gives a category's, a segment's or a star rating's keywords;
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
from engine.snapshot import ReviewDigest, Snapshot

TOP_CATEGORIES = 3
TOP_KEYWORDS = 5
PRIOR = 1_000.0  # the keywords' Dirichlet prior: pseudo-words spread like everyone's words
NEGATIVE_BELOW = 0.5


def _per_user_sum(user: Tensor, values: Tensor, n: int) -> Tensor:
    return torch.zeros(n, dtype=torch.float64).index_add_(0, user, values.double())


def class_keywords(
    digest: ReviewDigest,
    of_review: Tensor,
    n: int,
    *,
    k: int = TOP_KEYWORDS,
    background: Tensor | None = None,
) -> tuple[list[list[str]], list[list[float]]]:
    """The ``k`` terms that distinguish each class (``of_review``: each review's class in
    ``[0, n)``, -1 for none) from everyone else's words, with their counts in the class.

    A term's distinctiveness is its weighted log-odds ratio with an informative Dirichlet
    prior, as a z-score (Monroe, Colaresi and Quinn 2008, "Fightin' words"): the class's use
    of the term against the rest's, each smoothed towards the term's overall rate
    (``background``: how often each term was written over all users, the run's text model;
    default the classes' own counts), so a word a class uses a little more than everyone
    counts for little and one it alone uses twice counts. Only terms the class uses more
    than the rest; ties go to the term first in alphabetical order (the terms are sorted)."""
    words: list[list[str]] = [[] for _ in range(n)]
    counts: list[list[float]] = [[] for _ in range(n)]
    cls = of_review[digest.term_review]
    keep = cls >= 0
    if not bool(keep.any()):
        return words, counts
    v = len(digest.terms)
    key, inverse = torch.unique(cls[keep] * v + digest.term[keep], return_inverse=True)
    y = torch.zeros(key.numel(), dtype=torch.float64)
    y.index_add_(0, inverse, digest.term_count[keep].double())
    owner, term = key // v, key % v
    if background is None:
        background = torch.zeros(v, dtype=torch.float64).index_add_(0, term, y)
    f = background.double().clamp(min=1)
    total = float(f.sum())
    alpha = PRIOR * f / total
    n_class = torch.zeros(n, dtype=torch.float64).index_add_(0, owner, y)[owner]
    a, rest = alpha[term], (f[term] - y).clamp(min=0)
    n_rest = (total - n_class).clamp(min=1)
    delta = torch.log((y + a) / (n_class + PRIOR - y - a).clamp(min=1e-9)) - torch.log(
        (rest + a) / (n_rest + PRIOR - rest - a).clamp(min=1e-9)
    )
    z = delta / torch.sqrt(1 / (y + a) + 1 / (rest + a))
    order = torch.argsort(term, stable=True)
    order = order[torch.argsort(-z[order], stable=True)]
    order = order[torch.argsort(owner[order], stable=True)]
    for c, t, count, above in zip(
        owner[order].tolist(),
        term[order].tolist(),
        y[order].tolist(),
        (z[order] > 0).tolist(),
        strict=True,
    ):
        if above and len(words[c]) < k:
            words[c].append(digest.terms[t])
            counts[c].append(count)
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
    keywords, keyword_counts = class_keywords(d, d.user, n, background=d.term_written)
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
