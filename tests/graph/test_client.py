"""GraphClient against the session's real Neo4j: round trips, typed errors, GDS parity."""

from __future__ import annotations

import time
import uuid

import networkx as nx
import pytest
from pydantic import SecretStr

from core.errors import (
    AuthenticationFailed,
    ProfilegraphError,
    QuerySyntaxError,
    ServiceUnavailable,
)
from core.settings import Settings
from graph.client import GraphClient
from graph.queries import Query

CREATE_PAIR = Query(
    name="test_create_pair",
    mode="write",
    text="CREATE (:RoundTrip {tag: $tag, n: 1})-[:NEXT {w: $w}]->(:RoundTrip {tag: $tag, n: 2})",
)
READ_PAIR = Query(
    name="test_read_pair",
    mode="read",
    text="MATCH (a:RoundTrip {tag: $tag})-[r:NEXT]->(b) RETURN a.n AS a, r.w AS w, b.n AS b",
)


def test_cypher_round_trip(graph: GraphClient) -> None:
    tag = uuid.uuid4().hex
    summary = graph.write(CREATE_PAIR, tag=tag, w=0.25)
    assert (summary.nodes_created, summary.relationships_created) == (2, 1)
    assert graph.read(READ_PAIR, tag=tag) == [{"a": 1, "w": 0.25, "b": 2}]


def test_server_runs_neo4j_5_26_with_gds_2_13(graph: GraphClient) -> None:
    info = graph.server_info()
    assert info.neo4j_version.startswith("5.26.")
    assert info.gds_version is not None and info.gds_version.startswith("2.13.")


def test_read_query_called_as_write_is_refused(graph: GraphClient) -> None:
    with pytest.raises(ValueError, match="declared 'read', called as 'write'"):
        graph.write(READ_PAIR, tag="x")


def test_syntax_error_names_query_and_parameter_names_not_values(graph: GraphClient) -> None:
    broken = Query(name="test_broken", mode="read", text="MATCH (n RETURN n")
    with pytest.raises(QuerySyntaxError) as info:
        graph.read(broken, secret_value="do-not-print-me")
    assert "test_broken" in str(info.value) and "secret_value" in str(info.value)
    assert "do-not-print-me" not in str(info.value)


def test_wrong_password_fails_fast_with_clear_error(settings: Settings) -> None:
    wrong = settings.neo4j.model_copy(update={"password": SecretStr("not-the-password")})
    started = time.monotonic()
    with (
        pytest.raises(AuthenticationFailed, match="PROFILEGRAPH_NEO4J__PASSWORD"),
        GraphClient(wrong) as client,
    ):
        client.ping()
    assert time.monotonic() - started < 10


def test_nothing_listening_is_service_unavailable(settings: Settings) -> None:
    closed = settings.neo4j.model_copy(update={"bolt_port": 1, "connect_timeout_s": 2.0})
    with (
        pytest.raises(ServiceUnavailable, match="profilegraph services up"),
        GraphClient(closed) as client,
    ):
        client.ping()


PR_CREATE = Query(
    name="test_pagerank_graph",
    mode="write",
    text="""
    UNWIND $nodes AS key CREATE (:PrNode {tag: $tag, key: key})
    WITH count(*) AS created
    UNWIND $edges AS e
    MATCH (s:PrNode {tag: $tag, key: e[0]}), (t:PrNode {tag: $tag, key: e[1]})
    CREATE (s)-[:PR_LINK]->(t)
    """,
)
PR_PROJECT = Query(
    name="test_pagerank_project",
    mode="read",
    text="""
    MATCH (s:PrNode {tag: $tag})-[:PR_LINK]->(t:PrNode)
    WITH gds.graph.project($graph, s, t) AS g
    RETURN g.nodeCount AS nodes, g.relationshipCount AS rels
    """,
)
PR_STREAM = Query(
    name="test_pagerank_stream",
    mode="read",
    text="""
    CALL gds.pageRank.stream($graph, {dampingFactor: 0.85, maxIterations: 500, tolerance: 1e-12})
    YIELD nodeId, score
    RETURN gds.util.asNode(nodeId).key AS key, score
    """,
)
PR_WRITE = Query(
    name="test_pagerank_write",
    mode="write",
    text="""
    CALL gds.pageRank.write($graph, {dampingFactor: 0.85, maxIterations: 500,
                                     tolerance: 1e-12, writeProperty: 'pr'})
    YIELD nodePropertiesWritten RETURN nodePropertiesWritten
    """,
)
PR_READ_WRITTEN = Query(
    name="test_pagerank_read",
    mode="read",
    text="MATCH (n:PrNode {tag: $tag}) RETURN n.key AS key, n.pr AS score",
)
PR_DROP = Query(
    name="test_pagerank_drop", mode="read", text="CALL gds.graph.drop($graph) YIELD graphName"
)


def test_gds_pagerank_matches_networkx(graph: GraphClient) -> None:
    # A random digraph in which every node has an out-edge: GDS gives no dangling-node mass
    # back, networkx spreads it uniformly; without dangling nodes both define the same vector.
    g = nx.gnp_random_graph(60, 0.08, seed=7, directed=True)
    for node in g.nodes:
        if g.out_degree(node) == 0:
            g.add_edge(node, (node + 1) % 60)
    tag, name = uuid.uuid4().hex, f"pr-{uuid.uuid4().hex}"
    graph.write(PR_CREATE, tag=tag, nodes=list(g.nodes), edges=[list(e) for e in g.edges])
    assert graph.read(PR_PROJECT, tag=tag, graph=name) == [
        {"nodes": 60, "rels": g.number_of_edges()}
    ]
    try:
        streamed = {row["key"]: row["score"] for row in graph.read(PR_STREAM, graph=name)}
        written = graph.write(PR_WRITE, graph=name)
        assert written.properties_set == 0  # GDS writes outside the Cypher transaction
        stored = {row["key"]: row["score"] for row in graph.read(PR_READ_WRITTEN, tag=tag)}
    finally:
        graph.read(PR_DROP, graph=name)

    expected = nx.pagerank(g, alpha=0.85, tol=1e-12, max_iter=1000)
    total = sum(streamed.values())
    for node, value in expected.items():
        assert streamed[node] / total == pytest.approx(value, abs=1e-3)
        assert stored[node] == pytest.approx(streamed[node], rel=1e-9)


def test_wrong_passwords_for_the_application_user_do_not_lock_it_out(settings: Settings) -> None:
    """Hammering wrong passwords for the application's own user locked it for ~55 s at a time
    (queries failed after their retries): anyone reaching the Bolt port could keep the service
    down. The server keeps no lock (the generated passwords are 192-bit random), so the
    application, with no retry allowed, still works."""
    wrong = settings.neo4j.model_copy(
        update={"password": SecretStr("wrong-password"), "auth_retry_s": 0.0}
    )
    for _ in range(3):
        with GraphClient(wrong) as intruder:
            for _ in range(10):  # far more than the default's 3 failed attempts
                with pytest.raises(ProfilegraphError):
                    intruder.ping()
    impatient = settings.neo4j.model_copy(update={"auth_retry_s": 0.0})
    with GraphClient(impatient) as app:
        assert app.read("count_users")[0]["users"] >= 0


def test_a_login_lock_elsewhere_is_named_as_a_rate_limit() -> None:
    """A server of someone else's that does lock users answers with a rate-limit code: it is
    named as such (and retried), not taken for a query error."""
    from core.errors import AuthenticationRateLimited
    from graph.errors import RATE_LIMIT, translate

    class Limited(Exception):
        code = RATE_LIMIT

    error = translate(Limited(), query="count_users")  # type: ignore[arg-type]
    assert isinstance(error, AuthenticationRateLimited)
    assert "refuses logins" in str(error)


def test_failed_admin_logins_do_not_lock_the_application_out(settings: Settings) -> None:
    """The application logs in as its own user: wrong passwords for the admin account (an
    analyst in the Browser, say) lock that account, not the application."""
    assert settings.neo4j.user != "neo4j"
    admin = settings.neo4j.model_copy(
        update={"user": "neo4j", "password": SecretStr("wrong-password"), "auth_retry_s": 0.0}
    )
    with GraphClient(admin) as intruder:
        for _ in range(6):
            with pytest.raises(ProfilegraphError):
                intruder.ping()
    impatient = settings.neo4j.model_copy(update={"auth_retry_s": 0.0})
    with GraphClient(impatient) as app:  # no waiting allowed: it must simply work
        assert app.read("count_users")[0]["users"] >= 0
