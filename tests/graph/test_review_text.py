"""Review text is personal data: kept on the review, never in a snapshot file, gone with
erasure, with withdrawn consent and after its retention (the rating stays where the user
does)."""

from __future__ import annotations

from pathlib import Path

from graph.client import GraphClient
from graph.export import export_snapshot
from graph.queries import Query
from graph.selections import WholeGraph
from graph.source import ingest_events
from jobs.pseudonyms import pseudonymise
from jobs.retention import expire_review_texts
from tests.graph.conftest import wipe

TEXTS = Query(
    name="test_review_texts",
    mode="read",
    text="""MATCH (u:User)-[r:REVIEWED]->(i:Item)
    RETURN u.user_id AS user, i.item_id AS item, r.weight AS rating, r.text AS text,
           r.language AS language ORDER BY user, item""",
)
SOLE = "The sole came off after a week. Terrible."
GOOD = "质量很好，物流很快，鞋子很舒服"  # noqa: RUF001  (Chinese commas)


def _review(n: int, user: str, item: str, stars: float, text: str, day: int) -> dict[str, object]:
    return {
        "type": "interaction",
        "event_id": f"r{n}",
        "user_id": user,
        "item_id": item,
        "kind": "review",
        "weight": stars,
        "text": text,
        "ts": 1_700_000_000_000 + day * 86_400_000,
    }


def test_review_text_is_kept_then_forgotten_and_never_exported(
    graph: GraphClient, tmp_path: Path
) -> None:
    wipe(graph)
    ingest_events(
        graph,
        [
            {"type": "item_upsert", "event_id": "i", "item_id": "shoe", "categories": ["shoes"]},
            _review(1, "ann", "shoe", 2, "first words", 1),
            _review(2, "ann", "shoe", 1, SOLE, 3),  # a later review of the same item replaces
            _review(3, "bo", "shoe", 5, GOOD, 2),
            _review(4, "cy", "shoe", 4, "Fine, comfortable.", 2),
        ],
        source="test",
    )
    rows = graph.read(TEXTS)
    assert [(r["user"], r["text"], r["language"]) for r in rows] == [
        ("ann", SOLE, "en"),
        ("bo", GOOD, "zh"),
        ("cy", "Fine, comfortable.", "en"),
    ]
    # a snapshot (and its file) carries ratings, never the words
    snapshot = export_snapshot(graph, WholeGraph())
    pseudonymise(snapshot, None)
    data = snapshot.save(tmp_path / "snapshot.pt").read_bytes()
    for text in (SOLE, GOOD, "Fine, comfortable.", "sole came off"):
        assert text.encode() not in data
        assert text.encode("utf-16-le") not in data
    # withdrawn consent takes the words, not the rating
    ingest_events(
        graph,
        [{"type": "user_upsert", "event_id": "c", "user_id": "bo", "profiling_consent": False}],
        source="test",
    )
    # erasure takes the user, and their words with them
    ingest_events(graph, [{"type": "user_delete", "event_id": "d", "user_id": "ann"}], source="t")
    rows = graph.read(TEXTS)
    assert [(r["user"], r["rating"], r["text"]) for r in rows] == [
        ("bo", 5.0, None),
        ("cy", 4.0, "Fine, comfortable."),
    ]
    # retention: written over N days ago, gone (the review from 2023 is)
    assert expire_review_texts(graph, max_age_days=30) == 1
    assert [r["text"] for r in graph.read(TEXTS)] == [None, None]
