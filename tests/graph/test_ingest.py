"""Ingestion against the real Neo4j: idempotent, dead-letters bad input, marks changes."""

from __future__ import annotations

import itertools
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from core.settings import load_settings
from graph.client import GraphClient, Transaction
from graph.event_files import position_name, read_events
from graph.events import parse_event
from graph.ingest import (
    PositionConflict,
    SourceRange,
    SourceRanges,
    _query,
    _row,
    apply_batch,
    close_epoch,
    committed_position,
)
from graph.queries import Query
from graph.schema import ensure_schema
from graph.source import ingest_events
from jobs.retention import expire_ingest_ledger
from tests.graph.conftest import counts, wipe

T0 = "2024-03-01T12:00:00Z"


def view(n: int, user: str = "u1", item: str = "i1", **extra: Any) -> dict[str, Any]:
    return {
        "type": "interaction",
        "event_id": f"v{n}",
        "user_id": user,
        "item_id": item,
        "kind": "view",
        "ts": T0,
        **extra,
    }


def follow(a: str, b: str, n: int, kind: str = "follow") -> dict[str, Any]:
    return {"type": kind, "event_id": f"{kind}-{a}-{b}-{n}", "user_id": a, "target_user_id": b}


EDGE = Query(
    name="test_edge",
    mode="read",
    text="MATCH (:User {user_id: $u})-[r]->(:Item {item_id: $i}) "
    "RETURN type(r) AS type, r.count AS count, r.weight AS weight, r.ts AS ts",
)
FOLLOWS = Query(
    name="test_follows",
    mode="read",
    text="MATCH (a:User)-[:FOLLOWS]->(b:User) RETURN a.user_id AS a, b.user_id AS b ORDER BY a, b",
)
CHANGED = Query(
    name="test_changed",
    mode="read",
    text="MATCH (u:User) WHERE u.changed_seq > $since RETURN u.user_id AS u ORDER BY u",
)
DEAD = Query(
    name="test_dead",
    mode="read",
    text="MATCH (r:RejectedEvent) RETURN r.field AS field, r.value AS value, r.reason AS reason, "
    "r.times AS times, r.source AS source ORDER BY field",
)


def test_same_events_twice_change_nothing(clean_graph: GraphClient) -> None:
    events = [view(n, weight=2.0) for n in range(5)] + [follow("u1", "u2", 0)]
    first = ingest_events(clean_graph, events, source="test")
    before = counts(clean_graph)
    second = ingest_events(clean_graph, events, source="test")
    assert (first.applied, first.duplicates) == (6, 0)
    assert (second.applied, second.duplicates) == (0, 6)
    assert counts(clean_graph) == before
    assert clean_graph.read(EDGE, u="u1", i="i1") == [
        {"type": "VIEWED", "count": 5, "weight": 10.0, "ts": 1709294400000}
    ]


def test_duplicates_inside_one_batch_apply_once(clean_graph: GraphClient) -> None:
    report = ingest_events(clean_graph, [view(1), view(1), view(2)], source="test")
    assert (report.applied, report.duplicates) == (2, 1)
    assert clean_graph.read(EDGE, u="u1", i="i1")[0]["count"] == 2


def test_bad_events_are_dead_lettered_and_valid_ones_still_land(clean_graph: GraphClient) -> None:
    batch = [view(1), view(2, weight=-3), view(3, kind="buy"), view(4), "{not json"]
    report = ingest_events(clean_graph, batch, source="unit-file")
    assert (report.applied, report.rejected) == (2, 3)
    assert clean_graph.read(EDGE, u="u1", i="i1")[0]["count"] == 2
    dead = clean_graph.read(DEAD)
    assert [(d["field"], d["value"]) for d in dead] == [
        ("(event)", "{not json"),
        ("kind", "buy"),
        ("weight", "-3"),
    ]
    assert all(d["source"] == "unit-file" and d["times"] == 1 for d in dead)
    # Reading the same bad input again counts it, without duplicating the dead letter.
    ingest_events(clean_graph, batch, source="unit-file")
    assert [d["times"] for d in clean_graph.read(DEAD)] == [2, 2, 2]


def test_ratings_replace_and_views_accumulate(clean_graph: GraphClient) -> None:
    rates = [view(n, kind="rate", weight=w) for n, w in enumerate([4.0, 2.0])]
    ingest_events(clean_graph, rates, source="test")
    assert clean_graph.read(EDGE, u="u1", i="i1")[0] == {
        "type": "RATED",
        "count": 2,
        "weight": 2.0,
        "ts": 1709294400000,
    }


def test_unfollow_and_refollow_in_one_batch_follow_input_order(clean_graph: GraphClient) -> None:
    ingest_events(clean_graph, [follow("a", "b", 0), follow("a", "c", 0)], source="test")
    batch = [
        follow("a", "b", 1, "unfollow"),
        follow("a", "c", 1, "unfollow"),
        follow("a", "c", 2),  # re-follow after the unfollow: must end followed
        follow("x", "y", 1, "unfollow"),  # unknown pair: a no-op
    ]
    ingest_events(clean_graph, batch, source="test")
    assert clean_graph.read(FOLLOWS) == [{"a": "a", "b": "c"}]


def test_deletes_remove_nodes_and_act_as_barriers(clean_graph: GraphClient) -> None:
    ingest_events(clean_graph, [view(1), view(2, user="u2"), follow("u1", "u2", 0)], source="t")
    batch = [
        {"type": "user_delete", "event_id": "del-u1", "user_id": "u1"},
        view(3),  # after the delete: u1 comes back with only this view
        {"type": "item_delete", "event_id": "del-i9", "item_id": "i9"},  # unknown: no-op
    ]
    ingest_events(clean_graph, batch, source="t")
    assert clean_graph.read(EDGE, u="u1", i="i1")[0]["count"] == 1
    assert clean_graph.read(FOLLOWS) == []
    ingest_events(
        clean_graph, [{"type": "item_delete", "event_id": "del-i1", "item_id": "i1"}], source="t"
    )
    assert counts(clean_graph)["items"] == 0 and counts(clean_graph)["users"] == 2


def test_changes_are_stamped_with_the_open_epoch(clean_graph: GraphClient) -> None:
    first = ingest_events(clean_graph, [view(1), view(2, user="u2")], source="t")
    closed = close_epoch(clean_graph)
    assert closed == first.epoch
    second = ingest_events(clean_graph, [follow("u3", "u4", 0)], source="t")
    assert second.epoch == closed + 1
    assert [r["u"] for r in clean_graph.read(CHANGED, since=closed)] == ["u3", "u4"]
    closed = close_epoch(clean_graph)
    third = ingest_events(
        clean_graph, [{"type": "user_delete", "event_id": "d3", "user_id": "u3"}], source="t"
    )
    # Deleting u3 marks its social neighbour u4 as changed.
    assert [r["u"] for r in clean_graph.read(CHANGED, since=closed)] == ["u4"]
    assert third.epoch == closed + 1


def test_closing_the_epoch_waits_for_ingest_transactions_that_may_stamp_it(
    clean_graph: GraphClient,
) -> None:
    """The watermark is exact without a writers' lock: a transaction that read the open epoch
    and commits late is waited for, so no change with changed_seq <= watermark lands after it."""
    inside, release = threading.Event(), threading.Event()

    def slow(tx: Transaction) -> None:
        epoch = tx.run("read_ingest_epoch")[0]["epoch"]
        row = _row(parse_event(view(5), source="t"))[1]
        tx.run(_query("ingest_interactions:VIEWED"), rows=[row], seq=epoch)
        inside.set()
        release.wait(10)

    writer = threading.Thread(target=lambda: clean_graph.transaction(slow, name="ingest_batch"))
    writer.start()
    assert inside.wait(10)
    closed: list[int] = []
    closer = threading.Thread(target=lambda: closed.append(close_epoch(clean_graph)))
    closer.start()
    closer.join(1.0)
    assert closer.is_alive() and not closed  # waiting for the slow writer
    release.set()
    writer.join(10)
    closer.join(10)
    assert closed and [r["u"] for r in clean_graph.read(CHANGED, since=closed[0] - 1)] == ["u1"]


def test_item_upserts_name_items_and_add_categories(clean_graph: GraphClient) -> None:
    item = {
        "type": "item_upsert",
        "event_id": "it1",
        "item_id": "i1",
        "name": "Lamp",
        "categories": ["Home", "Lighting"],
    }
    ingest_events(clean_graph, [item], source="t")
    query = Query(
        name="test_item",
        mode="read",
        text="MATCH (i:Item {item_id: 'i1'})-[:IN_CATEGORY]->(c) "
        "RETURN i.name AS name, collect(c.name) AS cats",
    )
    row = clean_graph.read(query)[0]
    assert row["name"] == "Lamp" and sorted(row["cats"]) == ["home", "lighting"]


@pytest.mark.parametrize(
    "text",
    [
        "x'}) DETACH DELETE n //",
        "MATCH (n) DETACH DELETE n",
        "LOAD CSV FROM 'file:///etc/passwd' AS l RETURN l",
        "UNWIND range(1,10) AS x CREATE (:Pwned)",
        "rock; DROP CONSTRAINT user_id",
    ],
)
def test_text_shaped_like_cypher_is_stored_as_text_and_runs_nothing(
    clean_graph: GraphClient, text: str
) -> None:
    """Values reach Neo4j as parameters, never as query text: a name that reads like a
    statement is kept verbatim, and nothing it says happens."""
    constraints = Query(name="t_constraints", mode="read", text="SHOW CONSTRAINTS YIELD name")
    before = {row["name"] for row in clean_graph.read(constraints)}
    item = {"type": "item_upsert", "event_id": "it9", "item_id": "i9", "name": text}
    ingest_events(clean_graph, [item, {**item, "event_id": "it10", "item_id": "i10"}], source="t")
    query = Query(
        name="test_item_names",
        mode="read",
        text="MATCH (i:Item) RETURN collect(i.name) AS names, "
        "COUNT { MATCH (p:Pwned) RETURN p } AS pwned",
    )
    row = clean_graph.read(query)[0]
    assert row["names"] == [text, text] and row["pwned"] == 0
    assert clean_graph.read("count_users")[0]["users"] == 0
    assert {row["name"] for row in clean_graph.read(constraints)} == before


USERS = Query(
    name="test_users", mode="read", text="MATCH (u:User) RETURN u.user_id AS u ORDER BY u"
)


def test_follow_then_unfollow_in_one_batch_keeps_the_users_it_created(
    clean_graph: GraphClient,
) -> None:
    """The graph must not depend on the batch size: one batch of two equals two batches of one."""
    events = [follow("p", "q", 0), follow("p", "q", 1, "unfollow")]
    ingest_events(clean_graph, events, source="test", batch_size=10_000)
    together = (clean_graph.read(USERS), clean_graph.read(FOLLOWS))
    clean_graph_ids = [r["u"] for r in together[0]]
    assert clean_graph_ids == ["p", "q"] and together[1] == []
    wipe(clean_graph)
    ingest_events(clean_graph, events, source="test", batch_size=1)
    assert (clean_graph.read(USERS), clean_graph.read(FOLLOWS)) == together


def test_a_batch_with_non_objects_keeps_its_valid_events(clean_graph: GraphClient) -> None:
    """[valid, 42] and [valid, null]: the valid event lands, the others are dead letters."""
    report = ingest_events(clean_graph, [view(1), 42, None, "[]", True], source="test")
    assert (report.applied, report.rejected) == (1, 4)
    assert clean_graph.read(EDGE, u="u1", i="i1")[0]["count"] == 1
    assert len(clean_graph.read(DEAD)) == 4


DROP_SCHEMA = (
    "SHOW CONSTRAINTS YIELD name",
    "SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP'",
)


def test_concurrent_ingest_without_a_schema_applies_it_first(clean_graph: GraphClient) -> None:
    """No entry point writes before the uniqueness constraints exist: four ingesters racing on
    a database without a schema still make one node per id and apply each event once."""
    from concurrent.futures import ThreadPoolExecutor

    from core.settings import load_settings
    from graph.schema import _READY

    with clean_graph._session("write") as session:  # test helper: drop the whole schema
        for show in DROP_SCHEMA:
            for row in list(session.run(show)):
                kind = "CONSTRAINT" if show.startswith("SHOW CONSTRAINTS") else "INDEX"
                session.run(f"DROP {kind} `{row['name']}` IF EXISTS").consume()
    _READY.clear()
    events = [view(n, user=f"c{n % 300}", item=f"ci{n % 50}") for n in range(3_000)]

    def ingest(part: int) -> int:
        with GraphClient(load_settings().neo4j) as client:
            return ingest_events(client, events, source=f"racer-{part}", batch_size=200).applied

    with ThreadPoolExecutor(max_workers=4) as pool:
        applied = sum(pool.map(ingest, range(4)))
    assert applied == 3_000  # each event once, whoever applied it
    assert len(clean_graph.read(USERS)) == 300
    watermarks = Query(name="t_wm", mode="read", text="MATCH (w:Watermark) RETURN count(w) AS n")
    close_epoch(clean_graph)
    assert clean_graph.read(watermarks)[0]["n"] == 1


def purchase(n: int, user: str = "u1", item: str = "i1", **extra: Any) -> dict[str, Any]:
    return {**view(n, user, item), "event_id": f"p{n}", "kind": "purchase", **extra}


ORDERS = Query(
    name="test_orders",
    mode="read",
    text="MATCH (u:User)-[:PLACED]->(o:Order) "
    "RETURN u.user_id AS user, o.order_id AS order_id, o.amount AS amount, "
    "COUNT { (o)-[:CONTAINS]->() } AS lines ORDER BY order_id",
)


def test_purchases_become_orders_and_replays_change_nothing(clean_graph: GraphClient) -> None:
    events = [
        purchase(1, item="i1", amount=10.5, currency="USD", quantity=2, order_id="o-1"),
        purchase(2, item="i2", amount=4.5, order_id="o-1"),  # a second line of the same order
        purchase(3, item="i3", amount=7.0),  # no order id: an order of its own
        purchase(4, item="i4"),  # no amount: an occasion whose value is unknown
        {**purchase(5), "ts": None},  # no time: no occasion
    ]
    ingest_events(clean_graph, events, source="test")
    expected = [
        {"user": "u1", "order_id": "event:p3", "amount": 7.0, "lines": 1},
        {"user": "u1", "order_id": "event:p4", "amount": None, "lines": 1},
        {"user": "u1", "order_id": "o-1", "amount": 15.0, "lines": 2},
    ]
    assert clean_graph.read(ORDERS) == expected
    again = ingest_events(clean_graph, events, source="test")
    assert again.applied == 0 and clean_graph.read(ORDERS) == expected
    # deleting the user deletes their orders
    ingest_events(
        clean_graph, [{"type": "user_delete", "event_id": "d1", "user_id": "u1"}], source="test"
    )
    assert clean_graph.read(ORDERS) == [] and counts(clean_graph).get("Order", 0) == 0


def test_bad_money_is_rejected_naming_the_field(clean_graph: GraphClient) -> None:
    bad = {
        "amount": purchase(10, amount=-1.0),
        "currency": purchase(11, amount=5.0, currency="EUR"),
        "quantity": purchase(12, amount=5.0, quantity=0),
        "order_id": purchase(13, amount=5.0, order_id="bad id!"),
    }
    on_a_view = view(14, amount=5.0)
    report = ingest_events(
        clean_graph, [*bad.values(), on_a_view, purchase(15, amount=2.0)], source="test"
    )
    assert report.applied == 1 and report.rejected == 5
    reasons = "\n".join(report.rejected_by_reason)
    for field in bad:
        assert f"{field}:" in reasons
    assert "reporting currency USD" in reasons
    assert "amount: Value error, amount is only allowed on kind 'purchase'" in reasons


FACTS = Query(
    name="test_facts",
    mode="read",
    text="MATCH (u:User {user_id: 'u9'}), (i:Item {item_id: 'i9'}) "
    "RETURN u.signup_ts AS signup_ts, u.country AS country, u.age_band AS age_band, "
    "u.gender AS gender, u.attributes AS attributes, i.price AS price, i.brand AS brand",
)


def test_user_and_item_facts_are_stored_and_bad_ones_named(clean_graph: GraphClient) -> None:
    user = {"type": "user_upsert", "event_id": "uf1", "user_id": "u9"}
    item = {"type": "item_upsert", "event_id": "if1", "item_id": "i9"}
    good = [
        {
            **user,
            "signup_ts": "2023-05-01T00:00:00Z",
            "country": "DE",
            "age_band": "25-34",
            "gender": "undisclosed",
            "attributes": {"tier": "gold", "newsletter": True, "visits": 3},
        },
        {**item, "price": 19.99, "brand": "Acme"},
    ]
    bad = {
        "country": {**user, "event_id": "b1", "country": "germany"},
        "age_band": {**user, "event_id": "b2", "age_band": "30"},
        "gender": {**user, "event_id": "b3", "gender": "x"},
        "attributes": {
            **user,
            "event_id": "b4",
            "attributes": {f"k{n}": n for n in range(33)},  # more than 32 keys
        },
        "attributes.Bad Key.[key]": {**user, "event_id": "b5", "attributes": {"Bad Key": 1}},
        "signup_ts": {**user, "event_id": "b6", "signup_ts": "yesterday"},
        "price": {**item, "event_id": "b7", "price": -1.0},
    }
    report = ingest_events(clean_graph, [*good, *bad.values()], source="test")
    assert (report.applied, report.rejected) == (2, len(bad))
    fields = {reason.split(":")[0] for reason in report.rejected_by_reason}
    assert fields == set(bad)
    row = clean_graph.read(FACTS)[0]
    assert row == {
        "signup_ts": 1682899200000,
        "country": "DE",
        "age_band": "25-34",
        "gender": "undisclosed",
        "attributes": '{"newsletter": true, "tier": "gold", "visits": 3}',
        "price": 19.99,
        "brand": "Acme",
    }
    # an upsert without the facts keeps them
    ingest_events(clean_graph, [{**user, "event_id": "uf2", "name": "Nine"}], source="test")
    assert clean_graph.read(FACTS)[0] == row


def _views(first: int, last: int) -> list[Any]:
    return [parse_event(view(n, user=f"p{n % 7}"), source="t") for n in range(first, last + 1)]


def test_a_source_range_commits_its_position_with_the_data(clean_graph: GraphClient) -> None:
    """Replays at or below the committed position change nothing; an overlap is refused whole."""
    ensure_schema(clean_graph)
    first = apply_batch(clean_graph, _views(1, 10), guard=SourceRange("kafka:t", 3, 1, 10))
    assert (first.applied, committed_position(clean_graph, "kafka:t", 3)) == (10, 10)
    replay = apply_batch(clean_graph, _views(1, 10), guard=SourceRange("kafka:t", 3, 1, 10))
    assert (replay.applied, replay.duplicates) == (0, 10)
    with pytest.raises(PositionConflict, match="re-read from 11") as conflict:
        apply_batch(clean_graph, _views(6, 15), guard=SourceRange("kafka:t", 3, 6, 15))
    assert conflict.value.committed == 10
    assert counts(clean_graph)["views"] == 10  # the refused batch left nothing
    apply_batch(clean_graph, _views(11, 15), guard=SourceRange("kafka:t", 3, 11, 15))
    assert committed_position(clean_graph, "kafka:t", 3) == 15
    assert committed_position(clean_graph, "kafka:t", 2) == -1  # partitions are apart


def test_racing_writers_of_one_partition_apply_a_batch_once(clean_graph: GraphClient) -> None:
    """Two consumers holding the same partition for a moment (a rebalance): the position's lock
    lets one apply the batch; the other sees it committed."""
    ensure_schema(clean_graph)
    guard = SourceRange("kafka:race", 0, 1, 200)

    def one(_: int) -> int:
        with GraphClient(load_settings().neo4j) as client:
            return apply_batch(client, _views(1, 200), guard=guard).applied

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert sorted(pool.map(one, range(4))) == [0, 0, 0, 200]
    assert sum(r["count"] for r in clean_graph.read(VIEW_COUNTS)) == 200


VIEW_COUNTS = Query(
    name="t_view_counts", mode="read", text="MATCH ()-[r:VIEWED]->() RETURN r.count AS count"
)


def test_a_file_resumes_after_its_committed_line(clean_graph: GraphClient, tmp_path: Path) -> None:
    """A crash mid-file (here: the input ends early) and a re-run: the lines committed are not
    read again, the rest land; lines appended later are all that a third run applies."""
    path = tmp_path / "events.jsonl"
    lines = [json.dumps(view(n, user=f"f{n % 5}")) for n in range(1, 31)]
    path.write_text("\n".join(lines) + "\n")
    name = position_name(path)

    def upto(n: int) -> Any:
        return itertools.islice(read_events(path), n)

    cut = ingest_events(clean_graph, upto(12), source="f", batch_size=5, position=name)
    assert cut.applied == 12 and committed_position(clean_graph, name) == 12
    rest = ingest_events(clean_graph, read_events(path), source="f", batch_size=5, position=name)
    assert (rest.received, rest.applied) == (18, 18)
    with path.open("a") as handle:
        handle.write(json.dumps(view(99)) + "\n{not json\n")
    assert position_name(path) == name  # appended: the same file
    more = ingest_events(clean_graph, read_events(path), source="f", batch_size=5, position=name)
    assert (more.received, more.applied, more.rejected) == (2, 1, 1)
    assert sum(r["count"] for r in clean_graph.read(VIEW_COUNTS)) == 31
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps(view(100)) + "\n")
    assert position_name(other) != name


def test_an_event_is_its_id_whatever_door_it_comes_through(
    clean_graph: GraphClient, tmp_path: Path
) -> None:
    """The same events re-sent in another file were applied again (relationships doubled)
    while their order lines were not (keyed by event id): purchase counts and orders then
    disagreed. An event is its event_id across sources: a second file, a task or the stream
    carrying it applies nothing."""
    events = [purchase(n, user=f"d{n % 3}", item=f"i{n % 4}", amount=2.0) for n in range(1, 13)]
    events += [view(n, user=f"d{n % 3}") for n in range(1, 7)]
    first, second = tmp_path / "monday.jsonl", tmp_path / "resent.jsonl"
    first.write_text("".join(json.dumps(e) + "\n" for e in events))
    second.write_text("".join(json.dumps(e) + "\n" for e in reversed(events)))
    for path in (first, second):
        ingest_events(
            clean_graph, read_events(path), source="f", batch_size=5, position=position_name(path)
        )
    again = ingest_events(clean_graph, events[:4], source="task")  # and through a task
    assert again.applied == 0
    bought = Query(
        name="t_bought", mode="read", text="MATCH ()-[r:PURCHASED]->() RETURN sum(r.count) AS n"
    )
    assert clean_graph.read(bought)[0]["n"] == 12
    assert sum(r["count"] for r in clean_graph.read(VIEW_COUNTS)) == 6
    assert sum(row["lines"] for row in clean_graph.read(ORDERS)) == 12  # counts and orders agree


def test_the_ledger_forgets_after_its_window(clean_graph: GraphClient) -> None:
    """The de-duplication window is bounded: entries older than it go, and only then does a
    replay count again."""
    events = [view(n) for n in range(1, 6)]
    ingest_events(clean_graph, events, source="t")
    assert expire_ingest_ledger(clean_graph, max_age_days=1) == 0
    assert ingest_events(clean_graph, events, source="t").applied == 0
    clean_graph.write(
        Query(name="t_age", mode="write", text="MATCH (e:IngestedEvent) SET e.at = 0")
    )
    assert expire_ingest_ledger(clean_graph, max_age_days=1) == 5
    assert ingest_events(clean_graph, events, source="t").applied == 5


PAIRS = Query(
    name="t_pairs",
    mode="read",
    text="MATCH (u:User)-[r]->(i:Item) RETURN u.user_id AS u, type(r) AS type, i.item_id AS i, "
    "r.count AS count, r.weight AS weight, r.ts AS ts, "
    "r.times AS times, u.changed_seq AS seq ORDER BY u, type, i",
)


ORDERS_AND_FOLLOWS = Query(
    name="t_orders_follows",
    mode="read",
    text="CALL () { MATCH (u:User)-[:PLACED]->(o:Order)-[c:CONTAINS]->(i:Item) "
    "RETURN collect([u.user_id, o.order_id, o.ts, o.amount, o.user_id, c.line_id, c.quantity, "
    "c.amount, i.item_id]) AS lines } "
    "CALL () { MATCH (a:User)-[f:FOLLOWS]->(b:User) "
    "RETURN collect([a.user_id, b.user_id, f.ts, a.changed_seq, b.changed_seq]) AS follows } "
    "RETURN lines, follows",
)


def test_the_ingest_procedures_and_their_cypher_agree(clean_graph: GraphClient) -> None:
    """profilegraph.applyInteractions, applyOrders and applyFollows (the project's server) and
    the ingest_*.cypher queries (a stock server): the same events leave the same graph, in two
    batches (creating, then accumulating), ratings replacing their weight, untimed events
    keeping the times, an order's lines arriving in both batches, a line without an amount."""
    import graph.ingest as ingest

    assert clean_graph.has_procedure(ingest.INGEST_PROCEDURE)  # the project's server has it
    events = [
        view(n, user=f"a{n % 3}", item=f"x{n % 4}", ts=f"2024-03-0{1 + n % 9}T10:00:00Z")
        for n in range(40)
    ]
    events += [view(100 + n, user="a0", item="x9") for n in range(3)]  # untimed
    events += [
        {**view(200 + n, user="a1", item="x1"), "kind": "rate", "weight": float(1 + n)}
        for n in range(3)
    ]
    events += [  # order o1: lines in both batches, one unpriced; one order of its own
        {
            **view(300 + n, user="a2", item=f"x{n}", ts=f"2024-03-0{5 - n}T10:00:00Z"),
            "kind": "purchase",
            "order_id": "o1",
            **({"amount": 2.5 * (n + 1), "quantity": n + 1} if n != 1 else {}),
        }
        for n in range(4)
    ]
    events += [{**view(310, user="a0", item="x2"), "kind": "purchase", "amount": 4.0}]
    events += [follow("a0", "a1", 0), follow("a1", "b9", 0), follow("a0", "a1", 1)]
    events += [{**follow("a2", "a0", 0), "ts": T0}]
    order = [
        events[k] for k in (*range(0, 47, 2), 47, 48, *range(1, 47, 2), 49, 50, *range(51, 55))
    ]
    results = []
    for procedure in (True, False):
        wipe(clean_graph)
        clean_graph.procedures[ingest.INGEST_PROCEDURE] = procedure
        try:
            ingest_events(clean_graph, order[:27], source="t")
            ingest_events(clean_graph, order[27:], source="t")
        finally:
            clean_graph.procedures.pop(ingest.INGEST_PROCEDURE)
        results.append((clean_graph.read(PAIRS), clean_graph.read(ORDERS_AND_FOLLOWS)))
    assert results[0][0] == results[1][0]
    lines = [sorted(r["lines"]) for r in (results[0][1][0], results[1][1][0])]
    follows = [sorted(r["follows"], key=str) for r in (results[0][1][0], results[1][1][0])]
    assert lines[0] == lines[1] and follows[0] == follows[1]
    # 3 users x 4 items, the untimed pair, the rated pair, a2's four buys, a0's own order
    assert len(results[0][0]) == 12 + 1 + 1 + 4 + 1
    rated = next(r for r in results[0][0] if r["type"] == "RATED")
    assert rated["weight"] == 3.0 and rated["count"] == 3
    o1 = [line for line in lines[0] if line[1] == "o1"]
    assert len(o1) == 4 and {line[3] for line in o1} == {2.5 + 7.5 + 10.0}
    assert len(lines[0]) == 5 and len(follows[0]) == 3


def test_a_file_ingest_killed_mid_file_loses_and_doubles_nothing(
    clean_graph: GraphClient, tmp_path: Path
) -> None:
    """`profilegraph ingest FILE` dies (os._exit, no clean-up) after its second committed batch;
    the re-run applies exactly the rest."""
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(view(n, user=f"k{n % 9}")) + "\n" for n in range(1, 101)))
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from core.settings import load_settings
        from graph.client import GraphClient
        from graph.source import ingest_events
        from graph.event_files import position_name, read_events

        path = Path({str(path)!r})
        batches = []

        def on_batch(report):
            batches.append(report)
            if len(batches) == 2:
                os._exit(9)

        with GraphClient(load_settings().neo4j) as client:
            ingest_events(client, read_events(path), source="f", batch_size=15,
                          position=position_name(path), on_batch=on_batch)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 9, done.stderr
    assert sum(r["count"] for r in clean_graph.read(VIEW_COUNTS)) == 30
    rest = ingest_events(
        clean_graph, read_events(path), source="f", batch_size=15, position=position_name(path)
    )
    assert rest.applied == 70
    assert sum(r["count"] for r in clean_graph.read(VIEW_COUNTS)) == 100


def test_several_partitions_in_one_transaction(clean_graph: GraphClient) -> None:
    """A poll over several partitions commits all their positions with its data; a replay of
    it changes nothing; a mix of committed and fresh ranges is refused whole (the consumer then
    goes partition by partition)."""
    ensure_schema(clean_graph)
    both = SourceRanges((SourceRange("kafka:m", 1, 0, 4), SourceRange("kafka:m", 0, 0, 4)))
    assert apply_batch(clean_graph, _views(1, 10), guard=both).applied == 10
    assert [committed_position(clean_graph, "kafka:m", p) for p in (0, 1)] == [4, 4]
    assert apply_batch(clean_graph, _views(1, 10), guard=both).duplicates == 10
    mixed = SourceRanges((SourceRange("kafka:m", 0, 0, 4), SourceRange("kafka:m", 2, 0, 4)))
    with pytest.raises(PositionConflict):
        apply_batch(clean_graph, _views(11, 20), guard=mixed)
    assert committed_position(clean_graph, "kafka:m", 2) == -1
    assert sum(r["count"] for r in clean_graph.read(VIEW_COUNTS)) == 10
