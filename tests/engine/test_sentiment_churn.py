"""Churn with what customers write: the text features win only where the words say something
the behaviour does not, they are computed from the reviews known at the cut, and the horizon
is the data's own usual gap."""

from __future__ import annotations

import random

import torch

from engine.dimensions.adoptions import DAY_MS
from engine.evaluation.sentiment_churn import (
    STARS,
    TEXT,
    TimedReviews,
    evaluate_sentiment_churn,
    review_features,
    usual_horizon_ms,
)


def _shop(seed: int, *, words_tell: bool) -> TimedReviews:
    """Users review every 20-30 days; one in ten reviews is an unhappy one, after which the
    writer never returns. ``words_tell``: the unhappy review reads negative (else its score is
    drawn like any other: the words say nothing)."""
    rng = random.Random(seed)
    user, item, ts, stars, score = [], [], [], [], []
    for u in range(600):
        day = rng.uniform(0, 60)
        while day < 720:
            unhappy = rng.random() < 0.1
            user.append(u)
            item.append(rng.randrange(50))
            ts.append(int(day * DAY_MS))
            stars.append(4.0 + rng.random())  # the stars never tell: only the words may
            score.append(0.1 if unhappy and words_tell else rng.uniform(0.6, 1.0))
            if unhappy:
                break
            day += rng.uniform(20, 30)
    return TimedReviews(
        torch.tensor(user),
        torch.tensor(item),
        torch.tensor(ts, dtype=torch.long),
        torch.tensor(stars),
        torch.tensor(score),
    )


def test_words_that_announce_leaving_beat_behaviour_and_words_that_do_not_tie() -> None:
    told = evaluate_sentiment_churn(_shop(0, words_tell=True))
    assert told["cuts"] == 4 and told["text_ships"]
    assert told["gains"]["+text vs behaviour"]["low"] > 0.05
    assert told["summary"]["+text"]["auc"] > told["summary"]["behaviour"]["auc"] + 0.1
    silent = evaluate_sentiment_churn(_shop(0, words_tell=False))
    assert not silent["text_ships"]
    assert silent["gains"]["+text vs behaviour"]["verdict"] != "beats"


def test_review_features_read_only_the_reviews_known_at_the_cut() -> None:
    reviews = _shop(1, words_tell=True)
    at = int(300 * DAY_MS)
    known = reviews.ts <= at
    later = TimedReviews(
        reviews.user,
        reviews.item,
        reviews.ts,
        torch.where(known, reviews.stars, 1.0),  # what comes after the cut is rewritten
        torch.where(known, reviews.score, 0.0),
    )
    n = int(reviews.user.max()) + 1
    assert torch.equal(review_features(reviews, at, n), review_features(later, at, n))
    assert review_features(reviews, at, n).shape == (n, len(STARS) + len(TEXT))
    assert not torch.equal(
        review_features(reviews, int(700 * DAY_MS), n),
        review_features(later, int(700 * DAY_MS), n),
    )


def test_the_horizon_is_the_usual_gap_between_reviews() -> None:
    assert usual_horizon_ms(_shop(2, words_tell=True)) // DAY_MS in range(24, 27)
    one_each = TimedReviews(*(torch.arange(3),) * 3, torch.ones(3), torch.ones(3))
    assert usual_horizon_ms(one_each) == 90 * DAY_MS  # no gap at all: the default
