"""Graph-layer fixtures: a wiped database with the schema applied."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from graph.client import GraphClient
from graph.queries import Query
from graph.schema import apply_schema

WIPE_RELATIONSHIPS = "MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 20000 ROWS"
WIPE_NODES = "MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 20000 ROWS"
COUNT = Query(
    name="test_count",
    mode="read",
    text="""
    CALL () { MATCH (u:User) RETURN count(u) AS users }
    CALL () { MATCH (i:Item) RETURN count(i) AS items }
    CALL () { MATCH (c:Category) RETURN count(c) AS categories }
    CALL () { MATCH ()-[f:FOLLOWS]->() RETURN count(f) AS follows }
    CALL () { MATCH ()-[r:TAGGED]->() RETURN count(r) AS tagged, sum(r.count) AS tag_events }
    CALL () { MATCH ()-[r:LISTENED]->() RETURN count(r) AS listened, sum(r.weight) AS plays }
    CALL () { MATCH ()-[r:VIEWED]->() RETURN count(r) AS viewed, sum(r.count) AS views }
    CALL () { MATCH (r:RejectedEvent) RETURN count(r) AS rejected, sum(r.times) AS rejected_times }
    RETURN users, items, categories, follows, tagged, tag_events, listened, plays, viewed, views,
           rejected, rejected_times
    """,
)


def wipe(client: GraphClient) -> None:
    """Remove all data (auto-commit: CALL IN TRANSACTIONS cannot run in a managed one)."""
    with client._session("write") as session:  # test helper: the one place outside GraphClient
        session.run(WIPE_RELATIONSHIPS).consume()
        session.run(WIPE_NODES).consume()
    apply_schema(client)


def counts(client: GraphClient) -> dict[str, float]:
    return client.read(COUNT)[0]


@pytest.fixture
def clean_graph(graph: GraphClient) -> Iterator[GraphClient]:
    wipe(graph)
    yield graph
