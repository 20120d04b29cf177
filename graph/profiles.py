"""Reading one user's profile back, as the contract's field names (``core.profile_contract``),
and the review quoted as its evidence."""

from __future__ import annotations

from typing import Any

from core.profile_contract import FIELD_TRAILS, PREFIX
from graph.client import GraphClient

# what a profile holds besides its fields: the embedding, the trails, the writer's digests
NOT_FIELDS = sorted(
    {PREFIX + "embedding", PREFIX + "trail", PREFIX + "digests"}
    | {t.property for t in FIELD_TRAILS}
)


def read_profile(client: GraphClient, user_id: str) -> dict[str, Any] | None:
    """The user's profile fields by name (no ``profile_`` prefix; absent ones are missing);
    ``{}`` for a user without a profile, None for an unknown user."""
    rows = client.read("read_profile", user_id=user_id, not_fields=NOT_FIELDS)
    if not rows:
        return None
    return {name: value for name, value in rows[0]["fields"]}


def review_evidence(client: GraphClient, user_id: str) -> str | None:
    """The start of the user's latest negative review and what it was about, quoted from the
    review itself (``cypher/review_evidence.cypher``); None where there is none with text."""
    rows = client.read("review_evidence", user_id=user_id)
    return f'on {rows[0]["item_id"]}: "{rows[0]["excerpt"]}"' if rows else None
