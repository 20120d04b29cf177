"""How positive a review reads, in English and Chinese: a shipped lexicon/model per language,
and a model fitted on the data's own (text, rating) pairs, chosen per language on validation.

- **Shipped scorers**, whose models are inside their packages (nothing is downloaded at run
  time): English, VADER's lexicon and rules (``vaderSentiment``; compound score mapped to
  [0, 1]); Chinese, SnowNLP's naive Bayes model, which its authors trained on shopping reviews
  (``snownlp``).
- **Fitted**: a logistic regression on hashed, sublinear TF-IDF unigrams and bigrams of the
  review's tokens (English: lower-cased words; Chinese: ``jieba``'s segmentation; stop words
  out), trained on the training split's reviews rated positive (4-5 stars) or negative (1-2);
  it scores P(positive).

Which one ships is decided on validation, as the other dimensions are
(:mod:`engine.evaluation.sentiment_evaluation`): the fitted model only where the data has
enough rated reviews and it beats the shipped scorer. Tokenisation is shared with the keywords.
Imports of the text packages happen on first use: the rest of the engine runs without them.
"""

from __future__ import annotations

import itertools
import math
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import torch
from torch import Tensor

from engine.models.propagation import trusted_sparse

POSITIVE_FROM, NEGATIVE_UPTO = 4.0, 2.0  # stars: what counts as a positive / negative review
BUCKETS = 2**18
_WORD = re.compile(r"[a-z0-9']+")
EN_STOP = frozenset(
    " ".join(
        (
            "a an the and or but if of to in on at for with from by as is are was were be been",
            "being it its this that these those i me my we our you your he she they them their",
            "his her there here have has had do does did so too very just not no can will would",
            "could should than then also all any some more most much many one two get got don",
        )
    ).split()
)
# Chinese function words (punctuation never reaches the list: a token holds a letter or digit)
ZH_STOP = frozenset(
    " ".join(
        (
            "的 了 是 我 也 在 和 就 都 而 及 与 着 或 一个 没有 我们 你们 他们 她 他 它 这 那",
            "这个 那个 啊 吧 呢 吗 哦 呀 很 还 又 但 把 被 让 给 对 从 到 说 要 会 能 有 就是",
            "不是 什么 自己",
        )
    ).split()
)


@cache
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(60)  # its start-up chatter is not ours to print
    return jieba


def tokens(text: str, language: str) -> list[str]:
    """The review's words, stop words out: lower-cased words in English, ``jieba``'s
    segmentation in Chinese (a token must hold a letter or a digit)."""
    if language == "zh":
        cut = (w.strip().lower() for w in _jieba().lcut(text))
        return [w for w in cut if w and w not in ZH_STOP and any(c.isalnum() for c in w)]
    return [w for w in _WORD.findall(text.lower()) if w not in EN_STOP and len(w) > 1]


@cache
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def shipped_score(text: str, language: str) -> float:
    """The packaged scorer's P(positive)-like score in [0, 1] (0.5: neutral)."""
    if language == "zh":
        from snownlp import SnowNLP

        return float(SnowNLP(text).sentiments)
    return (float(_vader().polarity_scores(text)["compound"]) + 1) / 2


def shipped_name(language: str) -> str:
    return "snownlp" if language == "zh" else "vader"


def _features(token_lists: Sequence[list[str]]) -> tuple[Tensor, Tensor, Tensor]:
    """(row, bucket, sublinear tf) of each text's hashed unigrams and bigrams."""
    rows, cols, vals = [], [], []
    for i, words in enumerate(token_lists):
        grams = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
        counts: dict[int, int] = {}
        for g in grams:
            h = zlib.crc32(g.encode()) % BUCKETS
            counts[h] = counts.get(h, 0) + 1
        for h, c in counts.items():
            rows.append(i)
            cols.append(h)
            vals.append(1.0 + math.log(c))
    return (
        torch.tensor(rows, dtype=torch.long),
        torch.tensor(cols, dtype=torch.long),
        torch.tensor(vals, dtype=torch.float32),
    )


@dataclass
class FittedSentiment:
    """Logistic regression on hashed TF-IDF n-grams, with the IDF of its training texts."""

    idf: Tensor  # [BUCKETS]
    weight: Tensor  # [BUCKETS]
    bias: float
    language: str

    def _matrix(self, texts: Sequence[str]) -> Tensor:
        r, c, v = _features([tokens(t, self.language) for t in texts])
        v = v * self.idf[c]
        norm = torch.zeros(len(texts)).index_add_(0, r, v * v).sqrt().clamp(min=1e-12)
        with trusted_sparse():  # indices in range by construction
            x = torch.sparse_coo_tensor(torch.stack([r, c]), v / norm[r], (len(texts), BUCKETS))
        return x.coalesce()

    def score(self, texts: Sequence[str]) -> Tensor:
        """P(positive) of each text [N]."""
        if not texts:
            return torch.empty(0)
        logits = torch.sparse.mm(self._matrix(texts), self.weight[:, None]).squeeze(1)
        return torch.sigmoid(logits + self.bias)


def fit_sentiment(
    texts: Sequence[str],
    positive: Sequence[bool],
    language: str,
    *,
    l2: float = 1e-4,
    epochs: int = 60,
    seed: int = 0,
) -> FittedSentiment:
    """Fit on labelled texts (positive or negative reviews; neutral ones left out by the
    caller): full-batch Adam on the logistic loss with an L2 penalty."""
    if len(set(positive)) < 2:
        raise ValueError("fitting sentiment needs positive and negative reviews")
    torch.manual_seed(seed)
    r, c, _ = _features([tokens(t, language) for t in texts])
    present = torch.unique(r * BUCKETS + c) % BUCKETS  # each (text, bucket) once
    document_frequency = torch.bincount(present, minlength=BUCKETS).float()
    idf = torch.log((1 + len(texts)) / (1 + document_frequency)) + 1
    model = FittedSentiment(idf, torch.zeros(BUCKETS), 0.0, language)
    x = model._matrix(texts)
    y = torch.tensor([float(p) for p in positive])
    w = torch.zeros(BUCKETS, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    optimiser = torch.optim.Adam([w, b], lr=0.1)
    share = float(y.mean())
    balance = torch.where(y > 0, 0.5 / share, 0.5 / (1 - share))  # classes weigh alike
    for _ in range(epochs):
        optimiser.zero_grad()
        logits = torch.sparse.mm(x, w[:, None]).squeeze(1) + b
        loss = (
            torch.nn.functional.binary_cross_entropy_with_logits(logits, y, weight=balance)
            + l2 * (w * w).sum()
        )
        loss.backward()
        optimiser.step()
    return FittedSentiment(idf, w.detach(), float(b.detach()), language)
