"""Event validation: every class of bad input is rejected with the field and the value."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from graph.events import (
    MAX_LINE_BYTES,
    FollowEvent,
    InteractionEvent,
    InteractionKind,
    ItemUpsertEvent,
    Rejection,
    parse_event,
)

GOOD = {
    "type": "interaction",
    "event_id": "e-1",
    "user_id": "u1",
    "item_id": "i1",
    "kind": "purchase",
    "ts": "2024-05-01T10:00:00Z",
    "weight": 2.5,
}


def _bad(**changes: object) -> Rejection:
    raw = {**GOOD, **changes}
    parsed = parse_event(raw, source="test")
    assert isinstance(parsed, Rejection), f"accepted: {parsed!r}"
    assert parsed.source == "test" and parsed.raw
    return parsed


def test_valid_interaction_parses_to_epoch_ms() -> None:
    event = parse_event(GOOD, source="test")
    assert isinstance(event, InteractionEvent)
    assert event.kind is InteractionKind.PURCHASE and event.kind.rel_type == "PURCHASED"
    assert event.ts_ms == int(datetime(2024, 5, 1, 10, tzinfo=UTC).timestamp() * 1000)


def test_json_text_and_dicts_are_the_same_event() -> None:
    assert parse_event(json.dumps(GOOD), source="t") == parse_event(GOOD, source="t")


@pytest.mark.parametrize(
    ("changes", "field", "value", "reason"),
    [
        ({"kind": "buy"}, "kind", "buy", "Input should be 'view'"),
        ({"user_id": None}, "user_id", "None", "valid string"),
        ({"user_id": "u 1"}, "user_id", "u 1", "pattern"),
        ({"item_id": "x" * 300}, "item_id", "x" * 199 + "…", "at most 128"),
        ({"event_id": ""}, "event_id", "", "pattern"),
        ({"weight": -1}, "weight", "-1", "greater than or equal to 0"),
        ({"weight": float("nan")}, "weight", "nan", "finite number"),
        ({"weight": float("inf")}, "weight", "inf", "finite number"),
        ({"count": 0}, "count", "0", "greater than or equal to 1"),
        ({"ts": "2999-01-01T00:00:00Z"}, "ts", "2999-01-01T00:00:00Z", "in the future"),
        ({"ts": "1956-06-01T00:00:00Z"}, "ts", "1956-06-01T00:00:00Z", "before 1990"),
        ({"ts": "yesterday"}, "ts", "yesterday", "valid datetime"),
        # digits as text: a parser guessed seconds or milliseconds and both landed in 2023
        ({"ts": "1700000000000"}, "ts", "1700000000000", "digits as text"),
        ({"ts": "1700000000"}, "ts", "1700000000", "digits as text"),
        ({"ts": "946684800"}, "ts", "946684800", "digits as text"),
        ({"ts": "1.7e9"}, "ts", "1.7e9", "digits as text"),
        # no offset: local time of an unknown zone, silently taken as UTC before
        ({"ts": "2024-05-01T10:00:00"}, "ts", "2024-05-01T10:00:00", "UTC offset"),
        ({"ts": "2024-05-01"}, "ts", "2024-05-01", "valid datetime"),
        ({"type": "purchase"}, "type", "purchase", "does not match any of the expected tags"),
        ({"colour": "red"}, "colour", "red", "Extra inputs are not permitted"),
        ({"kind": "tag"}, "category", "None", "category is required for kind 'tag'"),
        ({"category": "rock"}, "category", "rock", "only allowed there"),
        ({"text": "nice"}, "text", "nice", "only allowed on kind 'review'"),
        ({"kind": "review", "text": "ok \u202e ko"}, "text", "ok \u202e ko", "U+202E"),
        ({"kind": "review", "text": "bell\x07"}, "text", "bell\x07", "U+0007"),
        ({"kind": "review", "text": "   "}, "text", "   ", "at least 1 character"),
        ({"kind": "review", "text": "x" * 5001}, "text", "x" * 199 + "…", "at most 5000"),
        ({"kind": "review", "text": "bon", "language": "fr"}, "language", "fr", "'en' or 'zh'"),
        ({"kind": "review", "language": "en"}, "language", "en", "only allowed with a text"),
    ],
)
def test_bad_input_names_field_and_value(
    changes: dict[str, object], field: str, value: str, reason: str
) -> None:
    rejection = _bad(**changes)
    assert (rejection.field, rejection.value) == (field, value)
    assert reason in rejection.reason


@pytest.mark.parametrize("text", ["Per Gessle; Roxette", "A//Political", "Set (Remix)", "AC/DC"])
def test_ordinary_names_with_punctuation_pass(text: str) -> None:
    raw = {"type": "item_upsert", "event_id": "e9", "item_id": "i9", "name": text}
    assert isinstance(parse_event(raw, source="test"), ItemUpsertEvent)


def test_oversized_input_is_rejected_before_parsing() -> None:
    line = json.dumps({**GOOD, "pad": "x" * MAX_LINE_BYTES})
    rejection = parse_event(line, source="test")
    assert isinstance(rejection, Rejection) and "larger than" in rejection.reason
    assert len(rejection.raw) <= 2000


def test_a_csv_cell_of_digits_is_epoch_milliseconds_never_a_guess() -> None:
    """A CSV cell is text whatever it holds: there digits are the integer they spell, epoch
    milliseconds, as an integer in JSON is (946684800 ms is in January 1970: rejected as
    implausible, not read as seconds)."""
    row = {k: str(v) for k, v in GOOD.items()}
    ok = parse_event({**row, "ts": "1700000000000"}, source="test", lax=True)
    assert not isinstance(ok, Rejection) and ok.ts_ms == 1_700_000_000_000
    seconds = parse_event({**row, "ts": "946684800"}, source="test", lax=True)
    assert isinstance(seconds, Rejection) and "before 1990" in seconds.reason
    assert isinstance(parse_event({**GOOD, "ts": 946684800}, source="test"), Rejection)


def test_malformed_json_is_rejected() -> None:
    rejection = parse_event('{"type": "interaction", ', source="test")
    assert isinstance(rejection, Rejection) and "JSON" in rejection.reason


def test_self_follow_is_rejected_and_naive_times_are_refused() -> None:
    rejection = parse_event(
        {"type": "follow", "event_id": "f1", "user_id": "a", "target_user_id": "a"}, source="t"
    )
    assert isinstance(rejection, Rejection) and rejection.field == "target_user_id"
    naive = (datetime.now(UTC) - timedelta(days=1)).replace(tzinfo=None).isoformat()
    event = parse_event(
        {"type": "follow", "event_id": "f2", "user_id": "a", "target_user_id": "b", "ts": naive},
        source="t",
    )
    assert isinstance(event, Rejection) and event.field == "ts" and "UTC offset" in event.reason
    aware = parse_event(
        {"type": "follow", "event_id": "f3", "user_id": "a", "target_user_id": "b",
         "ts": naive + "+02:00"},
        source="t",
    )  # fmt: skip
    assert isinstance(aware, FollowEvent) and aware.ts is not None and aware.ts.tzinfo is not None


def test_categories_are_normalised() -> None:
    event = parse_event(
        {
            "type": "item_upsert",
            "event_id": "x",
            "item_id": "i",
            "categories": ["Rock", "rock", "Pop"],
        },
        source="t",
    )
    assert isinstance(event, ItemUpsertEvent) and event.categories == ["pop", "rock"]


def test_mentions_find_an_id_however_the_input_spells_it() -> None:
    """Erasure matches dead letters and queued messages on what they name: an id spelt with a
    JSON escape, inside a list, or unquoted in text that is no JSON at all."""
    from graph.events import mentions

    assert "zqvictim77" in mentions('{"user_id": "zq\\u0076ictim77", "kind": "view"}')
    assert "zqvictim77" in mentions('{"user_id": "zq\\u0076ictim77"')  # cut short: no JSON
    assert "zqvictim77" in mentions(b"[1, zqvictim77, 3")
    assert "u:7" in mentions({"events": [{"target_user_id": "u:7"}]})
    assert "zqvictim7" not in mentions('{"user_id": "zqvictim77"}')  # whole ids, not parts


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Great shoes,\nfit well\tand cheap", "en"),
        ("质量很好，物流很快", "zh"),  # noqa: RUF001  (a Chinese comma)
        ("鞋子不错 but the laces broke", "zh"),
        ("Loved the 北京 duck", "en"),
    ],
)
def test_a_review_carries_its_text_and_language(text: str, language: str) -> None:
    """Line breaks and tabs are text; the language is detected where the event gives none."""
    event = parse_event({**GOOD, "kind": "review", "text": text}, source="test")
    assert isinstance(event, InteractionEvent)
    assert event.text == text and event.language == language
