"""Reading one user's profile back, as the contract's field names (``core.profile_contract``)."""

from __future__ import annotations

from typing import Any

from graph.client import GraphClient


def read_profile(client: GraphClient, user_id: str) -> dict[str, Any] | None:
    """The user's profile fields by name (no ``profile_`` prefix; absent ones are missing);
    ``{}`` for a user without a profile, None for an unknown user."""
    rows = client.read("read_profile", user_id=user_id)
    if not rows:
        return None
    return {name: value for name, value in rows[0]["fields"]}
