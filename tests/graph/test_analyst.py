"""Analyst queries: exact answers on a fixture graph, index use, read-only, parameter checks."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from core.errors import QueryError
from graph.analyst import (
    QueryParameterError,
    analyst_queries,
    declared_bounds,
    declared_params,
    run_analyst_query,
)
from graph.client import GraphClient
from graph.queries import Query
from graph.source import ingest_events
from graph.writeback import (
    Interest,
    ProfileRow,
    Recommendation,
    finish_run,
    start_run,
    write_profiles,
)
from profilegraph.cli import app
from tests.graph.conftest import wipe

FOREVER = ["from=0", "to=4102444800000"]
FOLLOWS = [("b", "a"), ("c", "a"), ("d", "a"), ("c", "b"), ("a", "c"), ("a", "e")]


def axis(*parts: tuple[int, float]) -> list[float]:
    vector = [0.0] * 64
    for k, value in parts:
        vector[k] = value
    return vector


def person(
    user: str,
    interests: list[Interest],
    embedding: list[float],
    recommendations: tuple[Recommendation, ...] = (),
    **fields: object,
) -> ProfileRow:
    base = {"uncertainty": 0.5, "explore": [], "adoptions": 0, "cold_start": False}
    return ProfileRow(user, embedding, {**base, **fields}, interests, recommendations)


def upcoming(categories: list[str], p: list[float], action: str, buy: float) -> dict[str, object]:
    return {
        "next_categories": categories,
        "next_category_probabilities": p,
        "next_action": action,
        "purchase_probability": buy,
    }


FRIENDS = "2 people you follow acted on it"
NEW_JAZZ = "explore: jazz is new for you, liked by 1 person you follow"


def customer(
    stage: str, segment: str, spend: float, clv: float, active: float, churn: float
) -> dict[str, object]:
    return {
        "lifecycle_stage": stage,
        "rfm_segment": segment,
        "total_spend": spend,
        "clv": clv,
        "probability_active": active,
        "churn_probability": churn,
    }


def feelings(
    overall: float, categories: list[str], each: list[float], words: list[str], counts: list[float]
) -> dict[str, object]:
    return {
        "sentiment": overall,
        "sentiment_reviews": 3,
        "negative_reviews": 2,
        "sentiment_categories": categories,
        "category_sentiment": each,
        "keywords": words,
        "keyword_counts": counts,
    }


LONG = "Scratched vinyl, arrived late and the sleeve was torn; the label would not replace it"
REVIEWS = [
    {
        "type": "interaction",
        "event_id": f"rv-{u}-{i}",
        "user_id": u,
        "item_id": i,
        "kind": "review",
        "weight": stars,
        "text": text,
        "ts": 1_700_000_000_000 + day * 86_400_000,
    }
    for u, i, stars, text, day in (
        ("b", "i1", 1, "Skips.", 1),
        ("b", "i2", 2, LONG, 2),
        ("c", "i2", 2, "Late.", 3),
    )
]

# Run p1 profiles everyone; run p2 (a newer watermark) re-profiles a (jazz -> pop) and c (same).
P1 = [
    person(
        "a",
        [Interest("rock", 0.6, ["i1"], ["d"], 3), Interest("jazz", 0.4)],
        axis((0, 1.0)),
        influence=5.0,
        influence_rank=1,
        segment=0,
        segment_label="rock fans",
        adoptions=4,
        recommendations=(
            Recommendation("i1", 1, 2.0, "exploit", FRIENDS, "rock"),
            Recommendation("i2", 2, 0.5, "explore", NEW_JAZZ, "jazz"),
        ),
        **customer("active", "champions", 500.0, 300.0, 0.9, 0.1),
        **upcoming(["rock"], [0.9], "viewed", 0.2),
    ),
    person(
        "b",
        [Interest("rock", 0.9), Interest("pop", 0.1)],
        axis((0, 1.0), (1, 0.1)),
        influence=2.0,
        influence_rank=2,
        segment=0,
        segment_label="rock fans",
        adoptions=1,
        cold_start=True,
        **feelings(0.2, ["jazz", "rock"], [0.1, 0.35], ["scratched", "late"], [2.0, 1.0]),
        recommendations=(Recommendation("i1", 1, 1.5, "exploit", FRIENDS, "rock"),),
        **customer("at risk", "at risk", 200.0, 120.0, 0.5, 0.6),
        **upcoming(["rock"], [0.8], "purchased", 0.7),
    ),
    person(
        "c",
        [Interest("jazz", 0.7), Interest("rock", 0.3, [], [], 1)],
        axis((0, 1.0), (1, 1.0)),
        influence=1.0,
        influence_rank=3,
        segment=1,
        segment_label="jazz and pop",
        cold_start=True,
        **feelings(0.8, ["jazz"], [0.3], ["late", "lovely"], [1.0, 3.0]),
        recommendations=(Recommendation("i2", 1, 0.3, "explore", NEW_JAZZ, "jazz"),),
        **customer("lapsed", "hibernating", 50.0, 10.0, 0.2, 0.8),
        **upcoming(["jazz"], [0.9], "viewed", 0.05),
    ),
    person(
        "d",
        [Interest("pop", 1.0)],
        axis((2, 1.0)),
        influence=0.5,
        influence_rank=4,
        segment=1,
        segment_label="jazz and pop",
        **customer("active", "champions", 300.0, 250.0, 0.95, 0.2),
    ),
    person(
        "e",
        [Interest("jazz", 0.5), Interest("pop", 0.5)],
        axis((0, -1.0)),
        influence=0.2,
        influence_rank=5,
        segment=1,
        segment_label="jazz and pop",
    ),
]
P2 = [
    person(
        "a",
        [Interest("rock", 0.7, ["i1"], ["d"], 3), Interest("pop", 0.3, [], ["d"], 1)],
        axis((0, 1.0)),
        influence=5.0,
        influence_rank=1,
        segment=0,
        segment_label="rock fans",
        adoptions=4,
        explore=["jazz", "blues"],
        uncertainty=0.2,
        recommendations=(
            Recommendation("i2", 1, 0.9, "exploit", "you acted on 2 items in jazz", "jazz"),
        ),
        **customer("at risk", "champions", 500.0, 280.0, 0.6, 0.7),
        **upcoming(["jazz", "rock"], [0.6, 0.3], "viewed", 0.1),
    ),
    P1[2],
]
WRITE_CLAUSE = re.compile(
    r"(?i)\b(CREATE|MERGE|SET|DELETE|REMOVE|DETACH|DROP|FOREACH|LOAD\s+CSV)\b"
)


@pytest.fixture(scope="module")
def fixture_graph(settings: object) -> Iterator[GraphClient]:
    from core.settings import load_settings

    with GraphClient(load_settings().neo4j) as client:
        wipe(client)
        view = {"type": "interaction", "item_id": "i", "kind": "view"}
        bad = [
            {**view, "event_id": "a1", "user_id": "u 1"},
            {**view, "event_id": "a2", "user_id": "u1", "kind": "zap"},
            {**view, "event_id": "a3", "user_id": "u1", "kind": "zip"},
        ]
        ingest_events(client, bad, source="shop-a")
        ingest_events(client, bad[:1], source="shop-a")  # seen again: times 2
        ingest_events(client, bad[1:2], source="shop-b")
        people = [{"type": "user_upsert", "event_id": f"user-{u}", "user_id": u} for u in "abcde"]
        follows = [
            {"type": "follow", "event_id": f"f-{a}-{b}", "user_id": a, "target_user_id": b}
            for a, b in FOLLOWS
        ]
        item = {
            "type": "item_upsert",
            "event_id": "i1",
            "item_id": "i1",
            "categories": ["rock", "jazz", "pop", "blues"],
        }
        jazz = {"type": "item_upsert", "event_id": "i2", "item_id": "i2", "categories": ["jazz"]}
        ingest_events(client, [*people, *follows, item, jazz, *REVIEWS], source="fixture")
        for run, watermark, profiles in (("p1", 1, P1), ("p2", 2, P2)):
            start_run(client, run, kind="full", model="lightgcn", params={}, watermark=watermark)
            time.sleep(0.01)  # the trail queries order runs by their start
            write_profiles(client, run, watermark, profiles)
        for run, status in (("run-1", "complete"), ("run-2", "failed"), ("run-3", "complete")):
            start_run(client, run, kind="full", model="lightgcn", params={}, watermark=1)
            finish_run(
                client,
                run,
                status=status,
                metrics={"recall@10": 0.2},
                timings={"total_s": 1.0},
                profiles_written=10,
            )
        yield client


def test_data_quality_rejections_exact_rows(fixture_graph: GraphClient) -> None:
    rows = run_analyst_query(fixture_graph, "data_quality_rejections", FOREVER)
    assert [(r["source"], r["field"], r["inputs"], r["times"]) for r in rows] == [
        ("shop-a", "kind", 2, 2),
        ("shop-a", "user_id", 1, 2),
        ("shop-b", "kind", 1, 1),
    ]
    assert run_analyst_query(fixture_graph, "data_quality_rejections", ["from=0", "to=1"]) == []


def rows_of(client: GraphClient, name: str, *pairs: str) -> list[tuple[object, ...]]:
    return [tuple(r.values()) for r in run_analyst_query(client, name, list(pairs))]


def test_top_influencers_with_evidence(fixture_graph: GraphClient) -> None:
    assert rows_of(fixture_graph, "top_influencers", "top=2") == [
        (1, "a", 5.0, 4, 3, "rock fans", ["rock", "pop"]),
        (2, "b", 2.0, 1, 1, "rock fans", ["rock", "pop"]),
    ]


def test_top_influencers_in_a_category(fixture_graph: GraphClient) -> None:
    """Ranked by the adoptions they triggered within the category, not the global ranking
    filtered by interest: c (overall rank 3, one rock adoption) comes before b (rank 2, none)."""
    assert rows_of(fixture_graph, "top_influencers_in_category", "category=rock", "top=10") == [
        (1, 1, "a", 3, 5.0, 4, 0.7),
        (2, 3, "c", 1, 1.0, 0, 0.3),
        (3, 2, "b", 0, 2.0, 1, 0.9),
    ]
    assert rows_of(fixture_graph, "top_influencers_in_category", "category=none", "top=3") == []


def test_categories_are_case_insensitive_and_obvious_parameters_have_defaults(
    fixture_graph: GraphClient,
) -> None:
    lower = rows_of(fixture_graph, "top_influencers_in_category", "category=rock")
    assert rows_of(fixture_graph, "top_influencers_in_category", "category=ROCK") == lower
    assert len(lower) == 3  # top defaults to 10
    assert rows_of(fixture_graph, "interest_audience", "category=Rock")[0][0] == "b"
    assert len(rows_of(fixture_graph, "top_influencers")) == 5  # everyone, within top=10
    with pytest.raises(QueryParameterError, match=r"needs parameter\(s\) \['user_ids'\]"):
        run_analyst_query(fixture_graph, "lookalike_audience", [])


def test_interest_audience_and_its_cold_share(fixture_graph: GraphClient) -> None:
    rows = rows_of(fixture_graph, "interest_audience", "category=rock", "min_weight=0.3", "limit=2")
    assert rows == [
        ("b", 0.9, True, 3, pytest.approx(2 / 3)),
        ("a", 0.7, False, 3, pytest.approx(2 / 3)),
    ]
    assert (
        rows_of(fixture_graph, "interest_audience", "category=rock", "min_weight=0.95", "limit=5")
        == []
    )


def test_value_segments(fixture_graph: GraphClient) -> None:
    assert rows_of(fixture_graph, "value_segments") == [
        ("champions", 2, 800.0, 265.0, 0.775),
        ("at risk", 1, 200.0, 120.0, 0.5),
        ("hibernating", 1, 50.0, 10.0, 0.2),
    ]


def test_high_value_at_risk(fixture_graph: GraphClient) -> None:
    rows = rows_of(fixture_graph, "high_value_at_risk", "min_churn=0.5", "top=10")
    assert [r[:4] for r in rows] == [
        ("a", 280.0, 0.7, "at risk"),
        ("b", 120.0, 0.6, "at risk"),
        ("c", 10.0, 0.8, "lapsed"),
    ]
    assert [r[0] for r in rows_of(fixture_graph, "high_value_at_risk", "min_churn=0.9")] == [
        "a",
        "b",
    ]


def test_unhappy_customers_in_a_category_quote_at_most_80_characters(
    fixture_graph: GraphClient,
) -> None:
    rows = run_analyst_query(fixture_graph, "unhappy_customers", ["category=Jazz", "below=0.4"])
    # at most 80 characters and two thirds of the review: never a whole one
    assert [(r["user_id"], r["category_sentiment"], r["latest_review"]) for r in rows] == [
        ("b", 0.1, LONG[: min(80, len(LONG) * 2 // 3)] + "..."),
        ("c", 0.3, "Lat..."),
    ]
    assert rows_of(fixture_graph, "unhappy_customers", "category=jazz", "below=0.2")[0][0] == "b"
    # rock: b's mean there is 0.35; c reviewed nothing in rock
    assert [r[0] for r in rows_of(fixture_graph, "unhappy_customers", "category=rock")] == ["b"]
    assert rows_of(fixture_graph, "unhappy_customers", "category=rock", "below=0.3") == []


def test_segment_keywords(fixture_graph: GraphClient) -> None:
    assert rows_of(fixture_graph, "segment_keywords", "segment=1") == [
        ("lovely", 1, 3.0),  # as many users: the more written first
        ("late", 1, 1.0),
    ]
    assert rows_of(fixture_graph, "segment_keywords", "segment=0") == [
        ("scratched", 1, 2.0),
        ("late", 1, 1.0),
    ]


def test_lifecycle_moves_between_two_runs(fixture_graph: GraphClient) -> None:
    assert rows_of(fixture_graph, "lifecycle_moves", "from_run=p1", "to_run=p2") == [
        ("active", "at risk", 1, ["a"])
    ]
    assert rows_of(fixture_graph, "lifecycle_moves", "from_run=p2", "to_run=p1") == [
        ("at risk", "active", 1, ["a"])
    ]


def test_churn_audience_within_a_category(fixture_graph: GraphClient) -> None:
    rows = rows_of(fixture_graph, "churn_audience", "category=Rock", "min_churn=0.5")
    assert [r[:4] for r in rows] == [
        ("c", 0.8, 0.3, 10.0),
        ("a", 0.7, 0.7, 280.0),
        ("b", 0.6, 0.9, 120.0),
    ]


def test_recommendations_for_a_user_are_the_latest_runs_list(fixture_graph: GraphClient) -> None:
    # run p2 replaced a's list of run p1 (i1 exploit, i2 explore) with its own
    assert rows_of(fixture_graph, "recommendations_for_user", "user_id=a") == [
        (1, "i2", "exploit", 0.9, "jazz", "you acted on 2 items in jazz")
    ]
    assert rows_of(fixture_graph, "recommendations_for_user", "user_id=b") == [
        (1, "i1", "exploit", 1.5, "rock", FRIENDS)
    ]
    assert rows_of(fixture_graph, "recommendations_for_user", "user_id=nobody") == []


def test_recommended_audience_of_an_item(fixture_graph: GraphClient) -> None:
    assert rows_of(fixture_graph, "recommended_audience", "item_id=i2") == [
        ("a", 1, "exploit", "you acted on 2 items in jazz", 2),
        ("c", 1, "explore", NEW_JAZZ, 2),
    ]
    assert rows_of(fixture_graph, "recommended_audience", "item_id=i2", "top=1") == [
        ("a", 1, "exploit", "you acted on 2 items in jazz", 2)
    ]


def test_exploration_coverage_by_category(fixture_graph: GraphClient) -> None:
    assert rows_of(fixture_graph, "exploration_coverage") == [
        ("jazz", 1, 1, 1.0, 1),
        ("rock", 0, 0, 0.0, 1),
    ]


def test_next_category_audience(fixture_graph: GraphClient) -> None:
    assert rows_of(fixture_graph, "next_category_audience", "category=Jazz") == [
        ("c", 0.9, 1, "viewed", 0.05),
        ("a", 0.6, 1, "viewed", 0.1),
    ]
    assert rows_of(
        fixture_graph, "next_category_audience", "category=rock", "min_probability=0.5"
    ) == [("b", 0.8, 1, "purchased", 0.7)]
    assert rows_of(fixture_graph, "next_category_audience", "category=rock") == [
        ("b", 0.8, 1, "purchased", 0.7),
        ("a", 0.3, 2, "viewed", 0.1),
    ]


def test_lookalike_audience_through_the_vector_index(fixture_graph: GraphClient) -> None:
    rows = run_analyst_query(fixture_graph, "lookalike_audience", ["user_ids=a", "k=2"])
    assert [r["user_id"] for r in rows] == ["b", "c"]
    assert rows[0]["score"] > rows[1]["score"]
    # the centre of two seeds; unknown seeds are ignored and seeds never come back
    rows = run_analyst_query(fixture_graph, "lookalike_audience", ["user_ids=b,d,nobody", "k=4"])
    assert [r["user_id"] for r in rows][:1] == ["a"] and not {"b", "d"} & {
        r["user_id"] for r in rows
    }


def test_segment_summary(fixture_graph: GraphClient) -> None:
    rows = rows_of(fixture_graph, "segment_summary", "top=2")
    assert rows == [
        (0, "rock fans", 2, 3.5, 0.5, ["rock", "pop"]),
        (1, "jazz and pop", 3, pytest.approx(1.7 / 3), pytest.approx(1 / 3), ["pop", "jazz"]),
    ]


def test_interest_drift_between_two_runs(fixture_graph: GraphClient) -> None:
    rows = rows_of(fixture_graph, "interest_drift", "from_run=p1", "to_run=p2", "limit=10")
    assert rows == [("a", ["rock", "jazz"], ["rock", "pop"], ["pop"], ["jazz"])]
    # runs that profiled nobody in common: no rows
    assert rows_of(fixture_graph, "interest_drift", "from_run=p1", "to_run=p9", "limit=9") == []


def test_explain_user(fixture_graph: GraphClient) -> None:
    assert rows_of(fixture_graph, "explain_user", "user_id=a") == [
        (1, "rock", 0.7, ["i1"], ["d"], 3, "p2"),
        (2, "pop", 0.3, [], ["d"], 1, "p2"),
    ]


def test_explore_candidates(fixture_graph: GraphClient) -> None:
    # a follows c (jazz 0.7) and e (jazz 0.5); nobody a follows is into blues
    assert rows_of(fixture_graph, "explore_candidates", "user_id=a") == [
        (1, "jazz", 2, pytest.approx(0.6), 0.2),
        (2, "blues", 0, None, 0.2),
    ]
    assert rows_of(fixture_graph, "explore_candidates", "user_id=d") == []


def test_run_history_newest_first_with_limit(fixture_graph: GraphClient) -> None:
    rows = run_analyst_query(fixture_graph, "run_history", [*FOREVER, "limit=2"])
    assert [(r["run_id"], r["status"]) for r in rows] == [
        ("run-3", "complete"),
        ("run-2", "failed"),
    ]
    assert json.loads(rows[0]["metrics"]) == {"recall@10": 0.2}


@pytest.mark.parametrize("query", analyst_queries(), ids=lambda q: q.name)
def test_files_hold_no_write_clause(query: Query) -> None:
    body = "\n".join(line for line in query.text.splitlines() if not line.lstrip().startswith("//"))
    assert not WRITE_CLAUSE.search(body), query.name
    assert {"purpose", "params", "returns", "example"} <= set(query.header)
    assert query.header["example"].startswith(f"profilegraph query {query.name}")


@pytest.mark.parametrize("query", analyst_queries(), ids=lambda q: q.name)
def test_an_index_serves_instead_of_a_full_scan(fixture_graph: GraphClient, query: Query) -> None:
    sample = {
        "INTEGER": 0,
        "FLOAT": 0.0,
        "STRING": "x",
        "BOOLEAN": False,
        "LIST<STRING>": ["x"],
        "LIST<INTEGER>": [0],
    }
    params = {name: sample[kind] for name, kind in declared_params(query).items()}
    operators = fixture_graph.explain(query, **params)
    assert not {"AllNodesScan", "NodeByLabelScan"} & set(operators), operators


def test_writes_are_refused_in_the_read_transaction(fixture_graph: GraphClient) -> None:
    sneaky = Query(name="sneaky", mode="read", text="CREATE (:Sneaky) RETURN 1 AS one")
    with pytest.raises(QueryError):
        fixture_graph.read(sneaky)


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([*FOREVER, "colour=red"], "has no parameter 'colour'"),
        (["from=yesterday", "to=1"], "parameter 'from' must be a whole number .*'yesterday'"),
        (["from= 7", "to=1"], "parameter 'from' must be a whole number"),
        (["from=1_000", "to=1"], "parameter 'from' must be a whole number"),
        (["from=\u0667", "to=1"], "parameter 'from' must be a whole number"),  # Arabic-Indic 7
        (["from=99999999999999999999", "to=1"], "within 64 bits"),
        (["from=-1", "to=1"], r"parameter 'from' must lie in 0\.\.4\.1"),
        (["from"], "must look like key=value"),
    ],
)
def test_parameter_errors_name_the_parameter(
    fixture_graph: GraphClient, pairs: list[str], message: str
) -> None:
    with pytest.raises(QueryParameterError, match=message):
        run_analyst_query(fixture_graph, "data_quality_rejections", pairs)


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["user_ids=a", "k=1000000000"], r"parameter 'k' must lie in 1\.\.1000"),
        (["user_ids=a", "k=0"], r"parameter 'k' must lie in 1\.\.1000"),
        ([f"user_ids={','.join(['u'] * 1001)}", "k=3"], "at most 1000 values"),
        (["user_ids=a\x1b[2J", "k=3"], "without control characters"),
    ],
)
def test_lookalike_parameters_are_bounded(
    fixture_graph: GraphClient, pairs: list[str], message: str
) -> None:
    """k=1000000000 once made the Neo4j JVM exit (heap exhausted); bounds stop it at the door."""
    with pytest.raises(QueryParameterError, match=message):
        run_analyst_query(fixture_graph, "lookalike_audience", pairs)


@pytest.mark.parametrize("query", analyst_queries(), ids=lambda q: q.name)
def test_every_number_parameter_declares_its_bounds(query: Query) -> None:
    numbers = {n for n, kind in declared_params(query).items() if kind in ("INTEGER", "FLOAT")}
    assert numbers <= set(declared_bounds(query)), numbers - set(declared_bounds(query))


def test_only_analyst_queries_run(fixture_graph: GraphClient) -> None:
    with pytest.raises(QueryParameterError, match="not an analyst query"):
        run_analyst_query(fixture_graph, "export_users", [])


def test_cli_formats(fixture_graph: GraphClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    args = [
        "query",
        "run_history",
        "--param",
        "from=0",
        "--param",
        "to=4102444800000",
        "--param",
        "limit=5",
    ]
    as_json = runner.invoke(app, [*args, "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    assert [r["run_id"] for r in json.loads(as_json.output)] == [
        "run-3",
        "run-2",
        "run-1",
        "p2",
        "p1",
    ]
    as_csv = runner.invoke(app, [*args, "--format", "csv"])
    assert as_csv.output.splitlines()[0].startswith("run_id,kind,model,status")
    listing = runner.invoke(app, ["query"])
    assert "data_quality_rejections" in listing.output and "run_history" in listing.output
