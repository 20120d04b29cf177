"""Review text as profile fields: the text model turns words into scores and counts of common
terms (a word one person wrote never becomes a term), and the per-user columns - sentiment,
per category, keywords, the latest negative review - follow from those numbers; an
incremental run's users get the figures a full run gave them because it applies the full
run's model."""

from __future__ import annotations

import io

import pytest
import torch

from core.profile_contract import FIELDS_BY_NAME
from core.vocabulary import IN_CATEGORY
from engine.dimensions.review_profile import review_columns, review_summary
from engine.dimensions.review_text import ReviewRows, TextConfig, TextModel, fit_text_model
from engine.dimensions.sentiment import shipped_score
from engine.snapshot import EdgeSet, Snapshot

DAY = 86_400_000
T0 = 1_700_000_000_000
# (user, item, day, stars, text): items 0-1 are shoes, 2 a bag
REVIEWS = [
    (0, 0, 1, 1, "The sole came off after a week. Terrible glue, awful."),
    (0, 1, 5, 2, "Sole split again, terrible glue. Mr Zwickelbart at 12 Elm Road."),
    (0, 2, 7, 5, "Lovely bag, great quality, great price."),
    (1, 0, 2, 5, "Great shoes, lovely quality and great price."),
    (1, 2, 3, 4, "Great bag, the glue holds, lovely."),
    (2, 1, 4, 5, "Lovely shoes, great price, the sole is soft."),
    (2, 2, 6, 1, "Awful bag, terrible quality, the strap broke."),
]


def _snapshot(users: list[int] | None = None) -> tuple[Snapshot, ReviewRows]:
    keep = [r for r in REVIEWS if users is None or r[0] in users]
    snapshot = Snapshot(
        node_ids={
            "user": ["a", "b", "c"],
            "item": ["s1", "s2", "bag"],
            "category": ["shoes", "bags"],
        },
        edges={
            IN_CATEGORY: EdgeSet(
                torch.tensor([0, 1, 2]),
                torch.tensor([0, 0, 1]),
                torch.ones(3),
                torch.full((3,), -1),
                torch.ones(3, dtype=torch.long),
            )
        },
        watermark=1,
        taken_at=0.0,
        selection={},
    )
    rows = ReviewRows(
        user=torch.tensor([r[0] for r in keep]),
        item=torch.tensor([r[1] for r in keep]),
        ts=torch.tensor([T0 + r[2] * DAY for r in keep]),
        stars=torch.tensor([float(r[3]) for r in keep]),
        texts=[r[4] for r in keep],
        languages=["en"] * len(keep),
    )
    return snapshot, rows


def _columns(snapshot: Snapshot, model: TextModel, rows: ReviewRows) -> dict[str, list[object]]:
    snapshot.reviews = model.digest(rows)
    snapshot.validate()
    columns = review_columns(snapshot)
    assert columns is not None
    return columns.select([0, 1, 2])


def test_a_word_one_person_wrote_never_becomes_a_term_or_leaves_in_the_snapshot() -> None:
    snapshot, rows = _snapshot()
    model = fit_text_model(rows, TextConfig(min_writers=2))
    assert "sole" in model.terms and "glue" in model.terms  # two and three writers
    for private in ("zwickelbart", "elm", "road", "strap"):
        assert private not in model.terms
    snapshot.reviews = model.digest(rows)
    buffer = io.BytesIO()
    torch.save(snapshot.reviews.to_dict(), buffer)
    for text in [*rows.texts, "Zwickelbart", "zwickelbart", "Elm Road"]:
        assert text.encode() not in buffer.getvalue()
    # with a floor of three writers, "sole" (two) is gone too
    assert "sole" not in fit_text_model(rows, TextConfig(min_writers=3)).terms


def test_sentiment_per_user_and_category_follow_the_scores() -> None:
    snapshot, rows = _snapshot()
    model = fit_text_model(rows, TextConfig(min_writers=2))
    assert model.scorers["en"].scorer == "vader"  # 7 rated reviews: nothing to validate on
    assert "not validated here: 7 rated reviews" in str(model.scorers["en"].reason)
    got = _columns(snapshot, model, rows)
    score = [shipped_score(r[4], "en") for r in REVIEWS]
    assert got["sentiment"][0] == pytest.approx(sum(score[:3]) / 3)
    assert got["sentiment_reviews"] == [3, 2, 2]
    assert got["negative_reviews"] == [2, 0, 1]
    assert got["last_negative_review"] == [T0 + 5 * DAY, None, T0 + 6 * DAY]
    # user a: two shoe reviews, one bag review; categories by count, then name
    assert got["sentiment_categories"][0] == ["shoes", "bags"]
    assert got["category_sentiment"][0] == pytest.approx([sum(score[:2]) / 2, score[2]])
    assert got["sentiment_categories"][2] == ["bags", "shoes"]  # a tie: by name
    assert got["sentiment_explanation"][0] == (
        "2 of 3 reviews read negative (shoes: 2 of 2), the latest on 2023-11-19; "
        "scored by vader (not validated here: 7 rated reviews (fewer than 100))"
    )


def test_keywords_are_what_distinguishes_a_user_with_their_counts() -> None:
    snapshot, rows = _snapshot()
    model = fit_text_model(rows, TextConfig(min_writers=2))
    got = _columns(snapshot, model, rows)
    # "great" and "lovely" everyone writes; a's complaints are theirs
    assert got["keywords"][0][:3] == ["glue", "sole", "terrible"]  # equal weights: by name
    assert got["keyword_counts"][0][:3] == [2.0, 2.0, 2.0]
    assert FIELDS_BY_NAME["keywords"].to_value(got["keywords"][1]) == got["keywords"][1]
    assert all(k in model.terms for ks in got["keywords"] for k in ks)


def test_the_full_runs_model_gives_an_incremental_run_the_same_figures() -> None:
    snapshot, rows = _snapshot()
    model = fit_text_model(rows, TextConfig(min_writers=2))
    full = _columns(snapshot, model, rows)
    # the model as the run folder keeps it (plain tensors and strings)
    buffer = io.BytesIO()
    # (a file of an earlier version, with a key no longer read, still loads)
    torch.save({**model.to_dict(), "words_per_user": 3.5}, buffer)
    buffer.seek(0)
    kept = TextModel.from_dict(torch.load(buffer, weights_only=True))
    part, part_rows = _snapshot(users=[2])
    incremental = _columns(part, kept, part_rows)
    for name, values in full.items():
        assert incremental[name][2] == values[2], name
    assert incremental["sentiment"][0] is None  # a's reviews were not in this snapshot
    # a model fitted on the part alone would say otherwise: the vocabulary needs writers
    alone = _columns(part, fit_text_model(part_rows, TextConfig(min_writers=2)), part_rows)
    assert alone["keywords"][2] != full["keywords"][2]


def test_ratings_on_another_scale_are_not_used_to_choose() -> None:
    _, rows = _snapshot()
    tens = ReviewRows(rows.user, rows.item, rows.ts, rows.stars * 2, rows.texts, rows.languages)
    model = fit_text_model(tens, TextConfig(min_writers=2))
    assert model.scorers["en"].reason == "not validated here: the ratings are not on a 1-5 scale"


def test_no_digest_no_columns_and_the_summary_names_the_scorer() -> None:
    snapshot, rows = _snapshot()
    assert review_columns(snapshot) is None and review_summary(snapshot) == {}
    snapshot.reviews = fit_text_model(rows, TextConfig(min_writers=2)).digest(rows)
    summary = review_summary(snapshot)
    assert summary["reviews"] == 7 and summary["writers"] == 3
    assert str(summary["scorers"]).startswith("{'en': 'vader (not validated here")


def test_the_packaged_scorer_reads_each_review_once_per_run(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Choosing a scorer scores the rated reviews with the packaged one, and the digest scores
    every review: each text is scored once, and the digest's scores are the scorer's."""
    import engine.dimensions.review_text as review_text
    import engine.evaluation.sentiment_evaluation as sentiment_evaluation

    calls: list[str] = []

    def counted(text: str, language: str) -> float:
        calls.append(text)
        return shipped_score(text, language)

    monkeypatch.setattr(review_text, "shipped_score", counted)
    monkeypatch.setattr(sentiment_evaluation, "shipped_score", counted)
    _, rows = _snapshot()
    model = fit_text_model(rows, TextConfig(min_writers=2, min_rated=1))
    assert "test_auc" in model.scorers["en"].validation  # the choice scored the rated reviews
    digest = model.digest(rows)
    assert sorted(calls) == sorted(rows.texts)  # once each, the choice and the digest together
    assert model.scorers["en"].scorer == "vader"  # too few positives to validate: packaged
    expected = torch.tensor([shipped_score(t, "en") for t in rows.texts])
    assert torch.equal(digest.score, expected)
