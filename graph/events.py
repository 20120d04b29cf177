"""The one event model every source speaks: files, the Python API and the Redis stream.

An event is a discriminated union on ``type``. Validation is strict on purpose: an event that
fails it is never half-applied; it goes to the dead-letter store with the field, the value and
the reason (see :mod:`graph.dead_letters`), and the valid events of the same batch still land.

Identifiers are restricted to a conservative alphabet (letters, digits, ``_.:@-``) so they are
safe in logs, file names and URLs; free text (names, categories) may hold anything printable
(no control or direction-override characters) and is stored as the text it is. Values only
ever reach Neo4j as ``$parameters``, never as query text: that is the injection barrier. (A
filter of "text shaped like Cypher" stood here; it missed whole statements such as ``LOAD CSV
FROM ... RETURN l`` and refused real names, so it claimed a protection it did not give.)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from core.text import unsafe_characters
from core.vocabulary import InteractionKind

MAX_LINE_BYTES = 64 * 1024
DEFAULT_CURRENCY = "USD"  # settings.value.currency; ingest passes the deployment's
_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)
EARLIEST_TS = datetime(1990, 1, 1, tzinfo=UTC)
_INTEGER = re.compile(r"[0-9]+")
_DIGITS = re.compile(r"[+-]?[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?")
_OFFSET = re.compile(r"(?:[Zz]|[+-][0-9]{2}:?[0-9]{2})$")
FUTURE_SLACK = timedelta(days=1)


def _safe_characters(value: str) -> str:
    if found := unsafe_characters(value):
        raise ValueError(f"control or direction-override characters are not accepted: {found}")
    return value


Identifier = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]*$", max_length=128)
]
Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=256),
    AfterValidator(_safe_characters),
]


def _safe_review_text(value: str) -> str:
    """A review's text: line breaks and tabs are text here; other control characters and
    direction overrides are refused as everywhere."""
    _safe_characters(value.replace("\n", " ").replace("\t", " "))
    return value


REVIEW_TEXT_MAX = 5_000  # characters; a review longer than this is refused, not cut
ReviewText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=REVIEW_TEXT_MAX),
    AfterValidator(_safe_review_text),
]
LANGUAGES = ("en", "zh")


def detect_language(text: str) -> str:
    """``zh`` where a fifth or more of the letters are CJK ideographs, else ``en`` (the two
    languages the review scorers know)."""
    letters = [c for c in text if c.isalpha()]
    cjk = sum(1 for c in letters if "\u4e00" <= c <= "\u9fff" or "\u3400" <= c <= "\u4dbf")
    return "zh" if letters and cjk * 5 >= len(letters) else "en"


class EventBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: Identifier
    ts: datetime | None = None  # RFC 3339 text, or an integer count of epoch milliseconds

    @field_validator("ts", "signup_ts", mode="before", check_fields=False)
    @classmethod
    def _epoch_ms(cls, value: Any, info: ValidationInfo) -> Any:
        """RFC 3339 text with its UTC offset, or integer epoch milliseconds; nothing else. No
        digits as text (``"1700000000"``: seconds or milliseconds? a parser would guess), no
        time without an offset (local time where? it would be taken as UTC silently), no
        floats, no booleans. A CSV cell is text whatever it holds: there (``lax``), digits
        are the integer they spell, epoch milliseconds, never a guess at the unit."""
        lax = bool((info.context or {}).get("lax"))
        if isinstance(value, str) and lax and _INTEGER.fullmatch(value.strip()):
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value < 2**53:
                raise ValueError("an integer timestamp is epoch milliseconds, 0 to 2**53")
            return datetime.fromtimestamp(value / 1000, UTC)
        if isinstance(value, str):
            if _DIGITS.fullmatch(value.strip()):
                raise ValueError(
                    "digits as text are not a timestamp (seconds or milliseconds?): send an "
                    "integer of epoch milliseconds or RFC 3339 text"
                )
            try:  # JSON's rules: RFC 3339 only
                parsed = _DATETIME.validate_json(json.dumps(value), strict=True)
            except ValidationError:
                raise ValueError(
                    "Input should be a valid datetime (RFC 3339 text or epoch milliseconds)"
                ) from None
            if parsed.tzinfo is None or not _OFFSET.search(value.strip()):
                raise ValueError(
                    "a timestamp needs its UTC offset ('Z' or '+hh:mm'): local time of which zone?"
                )
            return parsed
        return value

    @field_validator("ts", "signup_ts", check_fields=False)
    @classmethod
    def _plausible_time(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if value < EARLIEST_TS:
            raise ValueError(f"timestamp before {EARLIEST_TS.date()} is not plausible")
        if value > datetime.now(UTC) + FUTURE_SLACK:
            raise ValueError("timestamp is in the future")
        return value

    @property
    def ts_ms(self) -> int | None:
        return None if self.ts is None else int(self.ts.timestamp() * 1000)


class InteractionEvent(EventBase):
    """A purchase may say what it was worth: ``amount`` (the line's total, in ``currency``, the
    deployment's reporting currency), ``quantity`` and the ``order_id`` it belongs to (lines of
    one order share it; without one, the event is an order of its own)."""

    type: Literal["interaction"] = "interaction"
    user_id: Identifier
    item_id: Identifier
    kind: InteractionKind
    weight: float = Field(1.0, ge=0, le=1e9, allow_inf_nan=False)
    count: int = Field(1, ge=1, le=1_000_000)
    category: Text | None = Field(None, validate_default=True)
    amount: float | None = Field(None, ge=0, le=1e9, allow_inf_nan=False)
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    quantity: int | None = Field(None, ge=1, le=1_000_000)
    order_id: Identifier | None = None
    # a review's words (personal data: kept as long as privacy.review_text_days says, never in
    # a snapshot file) and their language, detected when absent
    text: ReviewText | None = None
    language: Literal["en", "zh"] | None = Field(None, validate_default=True)

    @field_validator("category")
    @classmethod
    def _category_iff_tag(cls, value: str | None, info: ValidationInfo) -> str | None:
        if (info.data.get("kind") is InteractionKind.TAG) != (value is not None):
            raise ValueError("category is required for kind 'tag' and only allowed there")
        return value.lower() if value is not None else None

    @field_validator("amount", "quantity", "order_id")
    @classmethod
    def _purchases_only(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None and info.data.get("kind") is not InteractionKind.PURCHASE:
            raise ValueError(f"{info.field_name} is only allowed on kind 'purchase'")
        return value

    @field_validator("text")
    @classmethod
    def _reviews_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("kind") is not InteractionKind.REVIEW:
            raise ValueError("text is only allowed on kind 'review'")
        return value

    @field_validator("language")
    @classmethod
    def _language_of_text(cls, value: str | None, info: ValidationInfo) -> str | None:
        text = info.data.get("text")
        if value is not None and text is None:
            raise ValueError("language is only allowed with a text")
        return value if value is not None or text is None else detect_language(text)

    @field_validator("currency")
    @classmethod
    def _reporting_currency(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if info.data.get("amount") is None:
            raise ValueError("currency is only allowed with an amount")
        wanted = (info.context or {}).get("currency", DEFAULT_CURRENCY)
        if value != wanted:
            raise ValueError(
                f"currency {value} is not this deployment's reporting currency {wanted} "
                "(no exchange-rate table is configured)"
            )
        return value


class FollowEvent(EventBase):
    """``user_id`` starts following ``target_user_id`` (a friendship is two follows)."""

    type: Literal["follow"] = "follow"
    user_id: Identifier
    target_user_id: Identifier

    @field_validator("target_user_id")
    @classmethod
    def _not_self(cls, value: str, info: ValidationInfo) -> str:
        if value == info.data.get("user_id"):
            raise ValueError("a user cannot follow themselves")
        return value


class UnfollowEvent(FollowEvent):
    type: Literal["unfollow"] = "unfollow"  # type: ignore[assignment]


AttributeKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
AttributeValue = Annotated[str, StringConstraints(max_length=256), AfterValidator(_safe_characters)]
MAX_ATTRIBUTES = 32


class UserUpsertEvent(EventBase):
    """A user's own facts. ``age_band`` and ``gender`` are sensitive: stored for reporting,
    never a model input, and exported only for the fairness report when a setting enables it
    (``privacy.sensitive_in_snapshots``). ``profiling_consent`` is the user's answer to being
    profiled (absent: the deployment's ``privacy.consent_default``). ``attributes`` is a small
    free-form map (at most 32 keys of lower-case letters, digits and ``_``; values text up to
    256 characters, numbers or booleans), stored as JSON text and replaced whole when given."""

    type: Literal["user_upsert"] = "user_upsert"
    user_id: Identifier
    name: Text | None = None
    signup_ts: datetime | None = None
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$")  # ISO 3166-1 alpha-2
    age_band: Literal["<18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"] | None = None
    gender: Literal["female", "male", "other", "undisclosed"] | None = None
    profiling_consent: bool | None = None
    attributes: dict[AttributeKey, AttributeValue | int | float | bool] | None = Field(
        None, max_length=MAX_ATTRIBUTES
    )

    @field_validator("attributes")
    @classmethod
    def _finite_numbers(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        for key, item in (value or {}).items():
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"attribute {key!r} must be a finite number")
        return value

    @property
    def signup_ms(self) -> int | None:
        return None if self.signup_ts is None else int(self.signup_ts.timestamp() * 1000)


class ItemUpsertEvent(EventBase):
    type: Literal["item_upsert"] = "item_upsert"
    item_id: Identifier
    name: Text | None = None
    categories: list[Text] = Field(default_factory=list, max_length=64)
    price: float | None = Field(None, ge=0, le=1e9, allow_inf_nan=False)  # reporting currency
    brand: Text | None = None

    @field_validator("categories")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return sorted({c.lower() for c in value})


class UserDeleteEvent(EventBase):
    type: Literal["user_delete"] = "user_delete"
    user_id: Identifier


class ItemDeleteEvent(EventBase):
    type: Literal["item_delete"] = "item_delete"
    item_id: Identifier


Event = Annotated[
    InteractionEvent
    | FollowEvent
    | UnfollowEvent
    | UserUpsertEvent
    | ItemUpsertEvent
    | UserDeleteEvent
    | ItemDeleteEvent,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


class Rejection(BaseModel):
    """Why one input was not accepted: kept in the dead-letter store."""

    source: str
    reason: str
    field: str
    value: str
    raw: str  # the input, clipped to RAW_KEPT characters
    digest: str = ""  # SHA-1 of the whole input: inputs that differ past the clip stay apart
    line: int | None = None  # line of the file it came from, where there is one
    event_id: str | None = None
    mentions: list[str] = []  # identifier-shaped strings it names (erasure matches on them)


@dataclass(frozen=True)
class Located:
    """An input with where it came from: a file line (``value`` as bytes, JSON expected), a CSV
    row (``lax``: its cells are text, converted to the fields' types), or a row that could not
    be read at all (``problem`` says why)."""

    value: Any
    line: int
    lax: bool = False
    problem: str | None = None


RAW_KEPT = 2_000


def _clip(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _digest(raw: Any) -> str:
    data = (
        raw
        if isinstance(raw, bytes)
        else (raw if isinstance(raw, str) else repr(raw)).encode("utf-8", "surrogatepass")
    )
    return hashlib.sha1(data).hexdigest()


_ID_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}")
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
MAX_MENTIONS = 256


def mentions(raw: Any) -> list[str]:
    """Every identifier-shaped string an input names (at most :data:`MAX_MENTIONS`): its
    strings as decoded (JSON escapes resolved: ``"zq\\u0076ictim"`` names ``zqvictim``), and
    the identifier-shaped runs of its text (a malformed input names an id without quotes).
    What erasure matches a dead letter or a queued message against."""
    found: dict[str, None] = {}

    def walk(value: Any) -> None:
        if isinstance(value, str):
            for token in _ID_TOKEN.findall(value):
                found.setdefault(token)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key)
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if isinstance(raw, str):
        with contextlib.suppress(ValueError):
            walk(json.loads(raw))
        walk(_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), raw))
    else:
        walk(raw)
    return list(found)[:MAX_MENTIONS]


def make_rejection(raw: Any, source: str, line: int | None, **why: Any) -> Rejection:
    return Rejection(
        source=source,
        raw=_clip(raw, RAW_KEPT),
        digest=_digest(raw),
        line=line,
        mentions=mentions(raw),
        **why,
    )


def parse_event(
    raw: Any,
    *,
    source: str,
    line: int | None = None,
    lax: bool = False,
    currency: str = DEFAULT_CURRENCY,
) -> Event | Rejection:
    """Validate one raw event; never raises on bad input.

    JSON text (``str`` or UTF-8 ``bytes``) and ``dict``s are validated strictly: a number must
    be a number, not the text or the boolean that looks like one (a ``dict`` is checked as the
    JSON it would be). ``lax`` (CSV cells, which are all text) converts text to each field's
    type instead. Anything else (a number or null where an event belongs) is a rejection.
    """
    if isinstance(raw, Located):
        if raw.problem is not None:
            return make_rejection(
                raw.value,
                source,
                raw.line,
                reason=raw.problem,
                field="(row)",
                value=f"line {raw.line}",
            )
        return parse_event(raw.value, source=source, line=raw.line, lax=raw.lax, currency=currency)
    if isinstance(raw, str | bytes) and len(raw) > MAX_LINE_BYTES:
        return make_rejection(
            raw,
            source,
            line,
            reason=f"event larger than {MAX_LINE_BYTES} bytes",
            field="(event)",
            value=f"{len(raw)} bytes",
        )
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            bad = raw[error.start : error.start + 4]
            return make_rejection(
                raw,
                source,
                line,
                reason="not valid UTF-8",
                field="(event)",
                value=f"byte {error.start}: {bad!r}",
            )
    text = raw if isinstance(raw, str) else None
    if isinstance(raw, dict) and not lax:
        for key, value in raw.items():  # JSON has no NaN or infinity: name the field instead
            if isinstance(value, float) and not math.isfinite(value):
                return make_rejection(
                    raw,
                    source,
                    line,
                    reason="Input should be a finite number",
                    field=str(key),
                    value=str(value),
                )
        try:
            text = json.dumps(raw, allow_nan=False)
        except (TypeError, ValueError) as error:
            return make_rejection(
                raw,
                source,
                line,
                reason=f"not representable as JSON: {error}",
                field="(event)",
                value=_clip(raw, 200),
            )
    try:
        context = {"currency": currency, "lax": lax}
        if text is not None:
            return EVENT_ADAPTER.validate_json(text, strict=True, context=context)
        return EVENT_ADAPTER.validate_python(raw, strict=not lax, context=context)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
            field = "type"
            first["input"] = raw.get("type") if isinstance(raw, dict) else first.get("input")
        else:
            field = ".".join(str(p) for p in first["loc"][1:] or first["loc"]) or "(event)"
        event_id = raw.get("event_id") if isinstance(raw, dict) else None
        return make_rejection(
            raw,
            source,
            line,
            reason=first["msg"],
            field=field,
            value=_clip(first.get("input"), 200),
            event_id=event_id if isinstance(event_id, str) else None,
        )
