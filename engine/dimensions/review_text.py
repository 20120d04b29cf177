"""From the reviews' words to numbers: the text model a full run fits and every run applies.

The export hands the reviews with text to :func:`fit_text_model` (a full run) or to the last
full run's :class:`TextModel` (an incremental run), and keeps only what
:meth:`TextModel.digest` returns - a :class:`engine.snapshot.ReviewDigest` - so the words never
reach a snapshot file. Per language the model holds:

- **the scorer** chosen on this data's own rated reviews
  (:func:`engine.evaluation.sentiment_evaluation.evaluate_sentiment`, writer-grouped split):
  the packaged one, the fitted one (refitted on every labelled review), or none where no
  scorer beats the constant (the reviews then carry no score, and the profile says why).
  With fewer than ``min_rated`` reviews rated on a 1-5 scale there is nothing to validate on:
  the packaged scorer is used and the reason says it was not validated here;
- **the vocabulary**: the words (``engine.dimensions.sentiment.tokens``) at least
  ``min_writers`` users wrote - a name, an address or an order number one person typed never
  becomes a term - with how often each was written over all users: the background the
  keywords are told apart from (``engine.dimensions.review_profile``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import torch
from torch import Tensor

from engine.dimensions.sentiment import (
    NEGATIVE_UPTO,
    POSITIVE_FROM,
    FittedSentiment,
    fit_sentiment,
    shipped_name,
    shipped_score,
    tokens,
)
from engine.evaluation.sentiment_evaluation import RatedTexts, evaluate_sentiment
from engine.snapshot import ReviewDigest

MAX_TERMS = 50_000  # the most written terms, at most


@dataclass(frozen=True)
class ReviewRows:
    """The reviews with text, as read from the graph (in memory only: these hold the words)."""

    user: Tensor  # [R] snapshot user index
    item: Tensor  # [R] snapshot item index
    ts: Tensor  # [R] epoch ms
    stars: Tensor  # [R] the review's rating (0: none)
    texts: list[str]
    languages: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    @cached_property
    def _shipped(self) -> dict[int, float]:
        return {}

    def shipped(self, at: Sequence[int]) -> Tensor:
        """The packaged scorer's score of these reviews, each scored once per run (it is the
        slow part of choosing a scorer, and the digest asks for the same texts again)."""
        memo = self._shipped
        for i in at:
            if i not in memo:
                memo[i] = shipped_score(self.texts[i], self.languages[i])
        return torch.tensor([memo[i] for i in at], dtype=torch.float32)

    @cached_property
    def words(self) -> list[list[str]]:
        """Each review's words, split once for the vocabulary and the digest (jieba, which
        splits Chinese, is the slow part of a digest)."""
        return [tokens(t, code) for t, code in zip(self.texts, self.languages, strict=True)]


@dataclass(frozen=True)
class TextConfig:
    min_writers: int = 5  # a word becomes a term once this many users wrote it
    min_rated: int = 100  # rated reviews (positive or negative) needed to choose on this data
    seed: int = 0
    splits: int = 3  # writer splits the choice is made over (seed, seed + 1, ...)


@dataclass
class LanguageScorer:
    scorer: str  # "vader" | "snownlp" | "fitted" | "none"
    reason: str | None = None
    validation: dict[str, Any] = field(default_factory=dict)
    fitted: FittedSentiment | None = None

    def score(self, texts: Sequence[str], language: str) -> Tensor:
        if self.scorer == "none":
            return torch.full((len(texts),), float("nan"))
        if self.scorer == "fitted":
            assert self.fitted is not None
            return self.fitted.score(texts)
        return torch.tensor([shipped_score(t, language) for t in texts], dtype=torch.float32)


@dataclass
class TextModel:
    scorers: dict[str, LanguageScorer]
    terms: list[str]
    term_users: Tensor  # [V] how many times each term was written, over all users

    def digest(self, rows: ReviewRows) -> ReviewDigest:
        """The reviews as numbers: a score per review, its counts of the vocabulary's terms."""
        languages = sorted(set(rows.languages))
        language = torch.tensor([languages.index(x) for x in rows.languages], dtype=torch.long)
        score = torch.full((len(rows),), float("nan"))
        for code in languages:
            at = torch.nonzero(language == languages.index(code)).flatten()
            scorer = self.scorers.get(code) or LanguageScorer(shipped_name(code))
            if scorer.scorer in ("fitted", "none"):
                score[at] = scorer.score([rows.texts[i] for i in at.tolist()], code)
            else:  # the packaged scorer: as the choice scored them
                score[at] = rows.shipped(at.tolist())
        index = {t: i for i, t in enumerate(self.terms)}
        review, term, count = [], [], []
        for r, words in enumerate(rows.words):
            for word, c in Counter(words).items():
                if word in index:
                    review.append(r)
                    term.append(index[word])
                    count.append(float(c))
        return ReviewDigest(
            user=rows.user.long(),
            item=rows.item.long(),
            ts=rows.ts.long(),
            stars=rows.stars.float(),
            score=score,
            language=language,
            languages=languages,
            scorers=[self._scorer(code) for code in languages],
            terms=list(self.terms),
            term_written=self.term_users.clone(),
            term_review=torch.tensor(review, dtype=torch.long),
            term=torch.tensor(term, dtype=torch.long),
            term_count=torch.tensor(count, dtype=torch.float32),
        )

    def _scorer(self, code: str) -> str:
        s = self.scorers.get(code)
        if s is None:
            return f"{shipped_name(code)} (no {code} reviews when the model was fitted)"
        return s.scorer if s.reason is None else f"{s.scorer} ({s.reason})"

    def describe(self) -> dict[str, Any]:
        return {
            code: {"scorer": s.scorer, "reason": s.reason, **s.validation}
            for code, s in sorted(self.scorers.items())
        } | {"terms": len(self.terms)}

    def to_dict(self) -> dict[str, Any]:
        """Plain tensors, lists and strings (``torch.load(weights_only=True)`` reads it)."""
        scorers = {}
        for code, s in self.scorers.items():
            scorers[code] = {
                "scorer": s.scorer,
                "reason": s.reason or "",
                "validation": {k: str(v) for k, v in s.validation.items()},
                "idf": None if s.fitted is None else s.fitted.idf,
                "weight": None if s.fitted is None else s.fitted.weight,
                "bias": 0.0 if s.fitted is None else s.fitted.bias,
            }
        return {
            "scorers": scorers,
            "terms": self.terms,
            "term_users": self.term_users,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextModel:
        scorers = {}
        for code, s in data["scorers"].items():
            fitted = None
            if s["idf"] is not None:
                fitted = FittedSentiment(s["idf"], s["weight"], float(s["bias"]), code)
            scorers[code] = LanguageScorer(
                s["scorer"], s["reason"] or None, dict(s["validation"]), fitted
            )
        return cls(scorers, list(data["terms"]), data["term_users"])  # older files: more keys


def _rated(stars: Tensor) -> Tensor | None:
    """Which reviews carry a 1-5 rating; None where the ratings are on another scale (the
    positive/negative cut-offs would mean nothing there)."""
    if bool((stars > 5).any()):
        return None
    return (stars >= 1) & (stars <= 5)


def _choose_scorer(rows: ReviewRows, code: str, config: TextConfig) -> LanguageScorer:
    at = [i for i, x in enumerate(rows.languages) if x == code]
    stars = rows.stars[at].double()
    rated = _rated(stars)
    if rated is None:
        return LanguageScorer(
            shipped_name(code), "not validated here: the ratings are not on a 1-5 scale"
        )
    keep = [at[i] for i in torch.nonzero(rated).flatten().tolist()]
    labelled = int((rated & ((stars >= POSITIVE_FROM) | (stars <= NEGATIVE_UPTO))).sum())
    if labelled < config.min_rated:
        return LanguageScorer(
            shipped_name(code),
            f"not validated here: {labelled} rated reviews (fewer than {config.min_rated})",
        )
    data = RatedTexts(
        [rows.texts[i] for i in keep],
        [float(rows.stars[i]) for i in keep],
        code,
        [str(int(rows.user[i])) for i in keep],
        rows.shipped(keep),
    )
    report = evaluate_sentiment(data, seeds=tuple(config.seed + k for k in range(config.splits)))
    validation = {
        "reviews": report["reviews"],
        "labelled": report["labelled"],
        "test_auc": {k: round(v["test_auc"], 4) for k, v in report["scorers"].items()},
    }
    if report["ships"] == "none":
        return LanguageScorer("none", report["reason"], validation)
    if report["ships"] != "fitted":
        return LanguageScorer(report["ships"], report["reason"], validation)
    label = stars[rated]
    mask = (label >= POSITIVE_FROM) | (label <= NEGATIVE_UPTO)
    texts = [data.texts[i] for i in torch.nonzero(mask).flatten().tolist()]
    fitted = fit_sentiment(texts, (label[mask] >= POSITIVE_FROM).tolist(), code, seed=config.seed)
    return LanguageScorer("fitted", None, validation, fitted)


def fit_text_model(rows: ReviewRows, config: TextConfig) -> TextModel:
    """Choose each language's scorer and build the vocabulary on these reviews."""
    scorers = {code: _choose_scorer(rows, code, config) for code in sorted(set(rows.languages))}
    return TextModel(scorers, *vocabulary(rows, config.min_writers))


def vocabulary(rows: ReviewRows, min_writers: int) -> tuple[list[str], Tensor]:
    """The terms (words at least ``min_writers`` users wrote; the ``MAX_TERMS`` most written,
    in alphabetical order) and how often each was written."""
    writers: dict[str, set[int]] = {}
    written: Counter[str] = Counter()
    for user, words in zip(rows.user.tolist(), rows.words, strict=True):
        written.update(words)
        for word in set(words):
            writers.setdefault(word, set()).add(user)
    common = [w for w, who in writers.items() if len(who) >= min_writers]
    common.sort(key=lambda w: (-written[w], w))
    terms = sorted(common[:MAX_TERMS])
    return terms, torch.tensor([float(written[t]) for t in terms])
