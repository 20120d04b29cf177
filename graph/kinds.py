"""The kinds of interaction and their relationship types (no pydantic: the GPU machine's
benches build synthetic snapshots with these and nothing else of the event model)."""

from __future__ import annotations

from enum import StrEnum


class InteractionKind(StrEnum):
    """What a user did to an item; each kind is its own relationship type in Neo4j."""

    VIEW = "view"
    CLICK = "click"
    CART = "cart"
    FAVOURITE = "favourite"
    PURCHASE = "purchase"
    RATE = "rate"
    REVIEW = "review"
    LISTEN = "listen"
    TAG = "tag"

    @property
    def rel_type(self) -> str:
        return REL_TYPES[self]

    @property
    def replaces_weight(self) -> bool:
        """A rating replaces the previous one; other kinds accumulate."""
        return self in (InteractionKind.RATE, InteractionKind.REVIEW)


REL_TYPES: dict[InteractionKind, str] = {
    InteractionKind.VIEW: "VIEWED",
    InteractionKind.CLICK: "CLICKED",
    InteractionKind.CART: "CARTED",
    InteractionKind.FAVOURITE: "FAVOURITED",
    InteractionKind.PURCHASE: "PURCHASED",
    InteractionKind.RATE: "RATED",
    InteractionKind.REVIEW: "REVIEWED",
    InteractionKind.LISTEN: "LISTENED",
    InteractionKind.TAG: "TAGGED",
}


__all__ = ["REL_TYPES", "InteractionKind"]
