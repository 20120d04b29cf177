"""The graph's vocabulary, written once: interaction kinds and their relationship types, the
other relationship types, the snapshot's edge keys and what each kind says about intent.

The engine, the graph layer and the benches read these names from here
(``tests/core/test_vocabulary.py`` fails on a relationship type spelt out anywhere else in
Python); the Cypher files name the types they match, and ``tests/graph/test_queries.py`` keeps
their allow-lists equal to :data:`REL_TYPES`. No pydantic: the GPU machine's benches build
synthetic snapshots with these and nothing else of the event model.
"""

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


# user -> item relationship types, one per interaction kind
VIEWED, CLICKED, CARTED, FAVOURITED = "VIEWED", "CLICKED", "CARTED", "FAVOURITED"
PURCHASED, RATED, REVIEWED, LISTENED, TAGGED = (
    "PURCHASED",
    "RATED",
    "REVIEWED",
    "LISTENED",
    "TAGGED",
)
REL_TYPES: dict[InteractionKind, str] = {
    InteractionKind.VIEW: VIEWED,
    InteractionKind.CLICK: CLICKED,
    InteractionKind.CART: CARTED,
    InteractionKind.FAVOURITE: FAVOURITED,
    InteractionKind.PURCHASE: PURCHASED,
    InteractionKind.RATE: RATED,
    InteractionKind.REVIEW: REVIEWED,
    InteractionKind.LISTEN: LISTENED,
    InteractionKind.TAG: TAGGED,
}
RATINGS = (RATED, REVIEWED)  # relations whose weight is a rating, not an amount
# How much more an action says about a shopper's interest than a view; the interest model uses
# these only where its validation split says they help
# (engine.dimensions.interests.InterestModel.intent).
INTENT = {FAVOURITED: 2.0, CARTED: 3.0, PURCHASED: 4.0}

# the other relationship types a snapshot carries
FOLLOWS_TYPE, IN_CATEGORY_TYPE, PLACED_TYPE = "FOLLOWS", "IN_CATEGORY", "PLACED"

# the relationship types a profile writes (core.profile_contract: which field implies which)
INTERESTED_IN_TYPE, RECOMMENDED_TYPE, NEXT_CATEGORY_TYPE = (
    "INTERESTED_IN",
    "RECOMMENDED",
    "NEXT_CATEGORY",
)
PROFILE_TYPES = (INTERESTED_IN_TYPE, RECOMMENDED_TYPE, NEXT_CATEGORY_TYPE)

# the snapshot's edge keys: (source node type, relationship type, target node type)
FOLLOWS = ("user", FOLLOWS_TYPE, "user")
IN_CATEGORY = ("item", IN_CATEGORY_TYPE, "category")
ORDERS = ("user", PLACED_TYPE, "order")


def interactions(rel_type: str) -> tuple[str, str, str]:
    """The snapshot's edge key of a user -> item relationship type."""
    return ("user", rel_type, "item")


TAGS = interactions(TAGGED)
PURCHASES = interactions(PURCHASED)

ALL_TYPES = frozenset(
    [*REL_TYPES.values(), FOLLOWS_TYPE, IN_CATEGORY_TYPE, PLACED_TYPE, *PROFILE_TYPES]
)

__all__ = [
    "ALL_TYPES",
    "CARTED",
    "CLICKED",
    "FAVOURITED",
    "FOLLOWS",
    "FOLLOWS_TYPE",
    "INTENT",
    "INTERESTED_IN_TYPE",
    "IN_CATEGORY",
    "IN_CATEGORY_TYPE",
    "LISTENED",
    "NEXT_CATEGORY_TYPE",
    "ORDERS",
    "PLACED_TYPE",
    "PROFILE_TYPES",
    "PURCHASED",
    "PURCHASES",
    "RATED",
    "RATINGS",
    "RECOMMENDED_TYPE",
    "REL_TYPES",
    "REVIEWED",
    "TAGGED",
    "TAGS",
    "VIEWED",
    "InteractionKind",
    "interactions",
]
