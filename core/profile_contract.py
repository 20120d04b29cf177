"""The profile contract: every field of a user's profile, declared once.

The engine fills a column of the same name in ``engine.dimensions.profile.Profiles`` (one value per
profiled user); the result file carries those columns; the writer stores each field as the
``:User`` property ``profile_<name>``; ``cypher/read_profile.cypher`` reads every ``profile_*``
property back and the CLI renders the fields in this order with their labels. Adding a profile
dimension means: compute it in the engine (a ``Profiles`` column) and declare it here. Nothing
in between restates it (tests check the Cypher and the engine against this module).

Besides the declared fields, a profile always has the same *structure*: the embedding (written
as the vector property ``profile_embedding``), the top interests with their weights and
explanations (``profile_interests``, ``profile_interest_weights`` and ``INTERESTED_IN`` edges),
the run's provenance (``profile_run_id``, ``profile_watermark``, ``profile_updated_at``), the
short interest trail (``profile_trail``) and the recommendations (``RECOMMENDED`` edges, and
``profile_recommendations``: the item ids in rank order). The writer owns those. A list field
may also imply edges (:data:`FIELD_EDGES`: the next categories as ``NEXT_CATEGORY`` edges), and
a field may keep a trail of its values under the last runs (:data:`FIELD_TRAILS`: the
lifecycle stage as ``profile_stage_trail``); the writers, their digests and the online path
read those declarations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from core.vocabulary import NEXT_CATEGORY_TYPE

Kind = Literal["float", "int", "str", "bool", "list[str]", "list[float]", "time"]  # time: ms

PREFIX = "profile_"


@dataclass(frozen=True)
class ProfileField:
    """One profile dimension: stored as ``profile_<name>``, rendered as ``label``."""

    name: str
    kind: Kind
    meaning: str
    label: str
    # may be moved by the online path between refreshes (graph.online; the churn fields only
    # where the run's churn model reads the customer's own behaviour alone, the next-behaviour
    # fields where the run has a sequence model)
    online: bool = False

    @property
    def property(self) -> str:
        return PREFIX + self.name

    def to_value(self, value: Any) -> Any:
        """A column's value (tensor element, number, list) as the plain type Neo4j stores."""
        if value is None:
            return None
        if hasattr(value, "item"):  # a 0-d tensor or numpy scalar
            value = value.item()
        if isinstance(value, float) and value != value:  # NaN: the figure does not apply
            return None
        if value == "" and self.kind == "str":  # "": likewise, in a text column
            return None
        if self.kind == "list[str]":
            return [str(v) for v in value]
        if self.kind == "list[float]":
            return [float(v) for v in value]
        return {"float": float, "int": int, "time": int, "str": str, "bool": bool}[self.kind](value)

    def render(self, value: Any) -> str:
        if value is None:
            return "-"
        if self.kind == "float":
            return f"{value:.3g}"
        if self.kind == "list[str]":
            return ", ".join(value) or "-"
        if self.kind == "list[float]":
            return ", ".join(f"{v:.2f}" for v in value) or "-"
        if self.kind == "time":
            return datetime.fromtimestamp(value / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
        return str(value)


FIELDS: tuple[ProfileField, ...] = (
    ProfileField(
        "influence",
        "float",
        "expected follower adoptions the user triggers over the horizon: the influence model,"
        " or the baseline that beat it on the run's validation period, on the same scale",
        "influence",
    ),
    ProfileField("influence_rank", "int", "1 = most influential user of the run", "rank"),
    ProfileField(
        "adoptions",
        "int",
        "follower adoptions the user triggered so far, all categories (the evidence)",
        "adoptions",
    ),
    ProfileField("segment", "int", "k-means segment of the embedding", "segment"),
    ProfileField("segment_label", "str", "the segment's three top interests", "segment label"),
    ProfileField(
        "uncertainty",
        "float",
        "1 / sqrt(1 + the user's categorised interactions): high = thin evidence",
        "uncertainty",
    ),
    ProfileField(
        "cold_start",
        "bool",
        "fewer categorised interactions than the cold threshold",
        "cold start",
    ),
    ProfileField(
        "explore",
        "list[str]",
        "categories the user's friends favour that the user has not tried (exploration)",
        "explore",
    ),
    ProfileField(
        "last_active",
        "time",
        "time (ms since the epoch) of the user's latest timestamped action; null if none",
        "last active",
        online=True,
    ),
    ProfileField(
        "lifecycle_stage",
        "str",
        "new / active / at risk / lapsed / churned, by the rules of engine.dimensions.value",
        "lifecycle stage",
        online=True,
    ),
    ProfileField(
        "churn_probability",
        "float",
        "P(no activity over the horizon) for users active in the last one (graph-aware model)",
        "churn probability",
        online=True,
    ),
    ProfileField("churn_explanation", "str", "why, in figures", "churn: why", online=True),
    ProfileField(
        "recency_days",
        "float",
        "days since the last order (the last active day on data without orders)",
        "recency (days)",
        online=True,
    ),
    ProfileField(
        "frequency",
        "int",
        "orders placed (active days on data without orders)",
        "frequency",
        online=True,
    ),
    ProfileField(
        "monetary", "float", "mean spend per order (reporting currency)", "monetary", online=True
    ),
    ProfileField(
        "usual_gap_days",
        "float",
        "the customer's usual days between orders (the population's median for one order);"
        " a quiet spell over twice this makes a customer 'at risk'",
        "usual gap (days)",
        online=True,
    ),
    ProfileField("total_spend", "float", "spend over all orders", "total spend", online=True),
    ProfileField(
        "rfm_score", "str", "recency, frequency, monetary quintiles (5 = best)", "RFM", online=True
    ),
    ProfileField(
        "rfm_segment",
        "str",
        "the named RFM segment (engine.dimensions.value.RFM_SEGMENTS)",
        "RFM segment",
        online=True,
    ),
    ProfileField(
        "probability_active",
        "float",
        "P(still a customer), from the repeat-purchase model chosen on validation",
        "P(active)",
        online=True,
    ),
    ProfileField(
        "expected_purchases",
        "float",
        "orders expected over the horizon",
        "expected orders",
        online=True,
    ),
    ProfileField(
        "clv",
        "float",
        "expected spend over the CLV horizon, discounted (count model x Gamma-Gamma spend)",
        "CLV",
        online=True,
    ),
    ProfileField("value_explanation", "str", "why, in figures", "value: why", online=True),
    ProfileField("view_to_cart", "float", "cart events per view event", "view -> cart"),
    ProfileField("cart_to_purchase", "float", "purchase events per cart event", "cart -> purchase"),
    ProfileField(
        "purchase_categories",
        "list[str]",
        "categories of the user's purchases, most first",
        "buys",
    ),
    ProfileField(
        "active_hours",
        "str",
        "the 4-hour window (UTC) with most of the user's actions",
        "active hours",
    ),
    ProfileField(
        "price_level",
        "float",
        "mean price paid over the median price of the item's category (1 = typical)",
        "price level",
    ),
    ProfileField("behaviour_explanation", "str", "the funnel and habits in figures", "habits"),
    ProfileField(
        "next_categories",
        "list[str]",
        "the categories the next action most likely falls in (the sequence model), best first",
        "next categories",
        online=True,
    ),
    ProfileField(
        "next_category_probabilities",
        "list[float]",
        "the probability of each of next_categories",
        "next: probability",
        online=True,
    ),
    ProfileField(
        "next_action", "str", "the most likely kind of the next action", "next action", online=True
    ),
    ProfileField(
        "next_action_probability",
        "float",
        "the probability of next_action",
        "next: how likely",
        online=True,
    ),
    ProfileField(
        "purchase_probability",
        "float",
        "the probability that the next action is a purchase",
        "next is a purchase",
        online=True,
    ),
    ProfileField(
        "hours_to_next_action",
        "float",
        "expected hours until the next action",
        "next in (h)",
        online=True,
    ),
    ProfileField(
        "next_explanation",
        "str",
        "the next-behaviour prediction in words",
        "next: why",
        online=True,
    ),
    ProfileField(
        "sentiment",
        "float",
        "mean sentiment of the user's reviews, P(positive) in [0, 1] (the run's scorer)",
        "sentiment",
    ),
    ProfileField("sentiment_reviews", "int", "reviews with text the sentiment rests on", "reviews"),
    ProfileField("negative_reviews", "int", "reviews scored below 0.5", "negative reviews"),
    ProfileField(
        "last_negative_review",
        "time",
        "when the latest negative review was written",
        "last negative",
    ),
    ProfileField(
        "sentiment_categories",
        "list[str]",
        "the user's most reviewed categories",
        "reviewed categories",
    ),
    ProfileField(
        "category_sentiment",
        "list[float]",
        "the mean sentiment of the user's reviews in each of sentiment_categories",
        "sentiment per category",
    ),
    ProfileField(
        "keywords",
        "list[str]",
        "the terms that distinguish the user's reviews (weighted log-odds; only terms at least"
        " privacy.keyword_min_writers users wrote)",
        "keywords",
    ),
    ProfileField(
        "keyword_counts", "list[float]", "how often the user wrote each keyword", "keyword counts"
    ),
    ProfileField("sentiment_explanation", "str", "the review figures in words", "reviews: why"),
)


@dataclass(frozen=True)
class FieldEdges:
    """The edges a list field implies: one per entry, from the user to the node the entry
    names (``label`` keyed by ``key``), with its rank (from 1) and the matching entry of
    ``value_field`` as ``value_property``, and the run that wrote it (``run_id``). The writers
    replace a user's edges of ``rel_type`` with the field's list, as a part of their own (a
    refresh rewrites them only where the list changed); where the field moves online, the
    online path replaces them too, and a refresh older than its update leaves them be."""

    field: str
    rel_type: str
    label: str
    key: str
    value_field: str
    value_property: str

    @property
    def online(self) -> bool:
        return FIELDS_BY_NAME[self.field].online


FIELDS_BY_NAME: dict[str, ProfileField] = {f.name: f for f in FIELDS}
FIELD_EDGES: tuple[FieldEdges, ...] = (
    FieldEdges(
        "next_categories",
        NEXT_CATEGORY_TYPE,
        "Category",
        "name",
        "next_category_probabilities",
        "probability",
    ),
)
FIELD_EDGES_BY_FIELD: dict[str, FieldEdges] = {e.field: e for e in FIELD_EDGES}


@dataclass(frozen=True)
class FieldTrail:
    """A field whose value under each of the last runs that wrote the user is kept on them, as
    ``property``: newest first, each entry the run id then the value (text; "" for none)
    joined by U+001F, one entry per run (re-writing a run replaces its entry), so a move
    between two runs is one query (``cypher/lifecycle_moves.cypher``)."""

    field: str
    property: str


FIELD_TRAILS: tuple[FieldTrail, ...] = (FieldTrail("lifecycle_stage", "profile_stage_trail"),)
ONLINE_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.online)

# Properties the writer sets from the run and the interests (not from a FIELDS column).
STRUCTURE = (
    "run_id",
    "watermark",
    "updated_at",
    "interests",
    "interest_weights",
    "embedding",
    "trail",
    "recommendations",
    "online_at",  # the online path's last update (ms), the fields it set, its change epoch
    "online_fields",
    "online_epoch",
    "digests",  # what the writer last wrote, per part (graph.writeback): unchanged is not rewritten
)
# Result-file columns besides the declared fields: who, the embedding, and the interests with
# their evidence (per interest: weight, {"items", "friends"} explanation, follower adoptions).
STRUCTURE_COLUMNS = (
    "user_index",
    "embedding",
    "interests",
    "interest_weights",
    "explanation",
    "interest_adoptions",
    "recommendations",
)
COLUMNS = STRUCTURE_COLUMNS + tuple(f.name for f in FIELDS)


def property_names() -> set[str]:
    """Every ``profile_*`` property a profile may have on a ``:User`` node."""
    fields = {f.property for f in FIELDS} | {t.property for t in FIELD_TRAILS}
    return {PREFIX + name for name in STRUCTURE} | fields
