"""Sentiment: the shipped scorers on hand-labelled sentences per language, the fitted model on
words it can learn, and the evaluation's choice (which ships nothing where nothing beats the
constant)."""

from __future__ import annotations

import random

import pytest

from engine.dimensions.sentiment import fit_sentiment, shipped_score, tokens
from engine.evaluation.probability_metrics import auc
from engine.evaluation.sentiment_evaluation import RatedTexts, evaluate_sentiment

HAND_LABELLED = {
    "en": [
        ("Absolutely love these boots, warm and comfortable.", True),
        ("Great service, the staff were friendly and fast.", True),
        ("Perfect fit and the colour is beautiful.", True),
        ("The sole came off after a week. Terrible.", False),
        ("Rude staff, cold food, never again.", False),
        ("Cheap material, it ripped the first day. Awful.", False),
    ],
    "zh": [
        ("质量很好，穿着很舒服，非常满意", True),  # noqa: RUF001
        ("物流很快，包装完好，好评", True),  # noqa: RUF001
        ("很喜欢，性价比高，推荐购买", True),  # noqa: RUF001
        ("质量太差了，穿了一周就坏了", False),  # noqa: RUF001
        ("客服态度恶劣，再也不买了", False),  # noqa: RUF001
        ("做工粗糙，和图片完全不一样，失望", False),  # noqa: RUF001
    ],
}


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_shipped_scorer_orders_hand_labelled_sentences(language: str) -> None:
    import torch

    rows = HAND_LABELLED[language]
    scores = torch.tensor([shipped_score(text, language) for text, _ in rows])
    labels = torch.tensor([float(p) for _, p in rows])
    assert auc(scores, labels) == 1.0, scores.tolist()


def test_tokens_segment_chinese_and_drop_stop_words() -> None:
    assert tokens("这部电影的剧情非常精彩", "zh") == ["这部", "电影", "剧情", "非常", "精彩"]
    assert tokens("The sole came off, and it's AWFUL!", "en") == [
        "sole",
        "came",
        "off",
        "it's",
        "awful",
    ]


def _reviews(n: int, seed: int, signal: bool) -> RatedTexts:
    """Reviews whose words carry the stars (``signal``) or not."""
    rng = random.Random(seed)
    good, bad, filler = ["superb", "delight", "sturdy"], ["flimsy", "broke", "refund"], ["box"]
    texts, stars, groups = [], [], []
    for i in range(n):
        star = rng.choice([1, 2, 4, 5])
        words = (good if star >= 4 else bad) if signal else filler
        texts.append(" ".join(rng.choice(words) for _ in range(4)) + f" item{i % 7}")
        stars.append(float(star))
        groups.append(f"w{i // 2}")
    return RatedTexts(texts, stars, "en", groups)


def test_a_fitted_model_learns_words_the_lexicon_lacks() -> None:
    data = _reviews(400, 0, signal=True)
    model = fit_sentiment(data.texts[:300], [s >= 4 for s in data.stars[:300]], "en")
    import torch

    held = model.score(data.texts[300:])
    labels = torch.tensor([float(s >= 4) for s in data.stars[300:]])
    assert auc(held, labels) > 0.95


def test_the_evaluation_ships_a_scorer_only_where_it_beats_the_constant() -> None:
    learnable = evaluate_sentiment(_reviews(600, 1, signal=True), seeds=(0,), min_train=100)
    assert learnable["ships"] == "fitted"
    assert learnable["fitted_vs_shipped"]["verdict"] == "beats"
    assert learnable["scorers"]["fitted"]["test_auc"] > 0.9
    noise = evaluate_sentiment(_reviews(600, 2, signal=False), seeds=(0,), min_train=100)
    assert noise["ships"] == "none" and "constant" in noise["reason"]


def test_too_few_negative_reviews_in_validation_is_not_validated_rather_than_none() -> None:
    """Six negative reviews by two writers: however the writers are split, three validation
    splits cannot hold 20 of them, so no verdict either way: the packaged scorer, with why."""
    data = _reviews(600, 3, signal=True)
    texts, stars, groups = list(data.texts), list(data.stars), list(data.groups)
    for i in range(len(stars)):
        if stars[i] <= 2:
            stars[i] = 5.0
            texts[i] = "superb sturdy delight superb"
    for i in range(6):
        texts.append("flimsy broke refund flimsy")
        stars.append(1.0)
        groups.append(f"unhappy{i % 2}")
    result = evaluate_sentiment(RatedTexts(texts, stars, "en", groups), seeds=(0, 1, 2))
    assert result["ships"] == "vader"
    assert result["reason"].startswith("not validated here: ")
    assert "negative reviews in the validation splits (fewer than 20)" in result["reason"]
