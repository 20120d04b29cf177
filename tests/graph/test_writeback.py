"""Write-back consistency: per-user all-or-nothing, survives a killed writer, never goes back."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from core.profile_contract import FIELD_TRAILS, FIELDS, FieldTrail, property_names
from graph.client import GraphClient
from graph.profiles import read_profile
from graph.queries import Query
from graph.source import ingest_events
from graph.writeback import (
    EMBEDDING,
    TRAIL_SEP,
    WRITE_PROCEDURE,
    Interest,
    ProfileRow,
    Recommendation,
    digest,
    finish_run,
    read_run,
    start_run,
    statement_row,
    write_profiles,
)
from tests.graph.conftest import wipe

USERS = [f"u{n}" for n in range(300)]
RUNS = ("run-a", "run-b", "run-old", "run-new", "run-new2", "run-late", "same", "moves")
PROFILES = Query(
    name="test_profiles",
    mode="read",
    text="""MATCH (u:User)
    RETURN u.user_id AS user_id, properties(u) AS props,
           COLLECT { MATCH (u)-[r:INTERESTED_IN]->(c) RETURN [c.name, r.weight, r.run_id, r.items]
                     ORDER BY r.rank } AS edges,
           COLLECT { MATCH (u)-[r:RECOMMENDED]->(i)
                     RETURN [i.item_id, r.rank, r.kind, r.reason, r.category, r.run_id]
                     ORDER BY r.rank } AS recs,
           COLLECT { MATCH (u)-[r:NEXT_CATEGORY]->(c) RETURN [c.name, r.probability, r.run_id]
                     ORDER BY r.rank } AS next
    ORDER BY user_id""",
)


def profile(run: str, user: str) -> ProfileRow:
    """A deterministic profile whose every field reveals the run it came from."""
    h = int(hashlib.sha1(f"{run}/{user}".encode()).hexdigest()[:8], 16)
    return ProfileRow(
        user_id=user,
        embedding=[((h >> (k % 24)) % 97) / 97.0 for k in range(64)],
        fields={
            "influence": h / 2**32,
            "influence_rank": h % 1000,
            "segment": h % 7,
            "segment_label": f"{run} segment",
            "uncertainty": 0.5,
            "explore": [f"{run}-x"],
            "adoptions": h % 5,
            "cold_start": False,
            "next_categories": [f"{run}-b", f"{run}-a"],
            "next_category_probabilities": [0.6, 0.25],
        },
        interests=[Interest(f"{run}-a", 0.7, [f"i{h % 3}"], [], 1), Interest(f"{run}-b", 0.3)],
        recommendations=[
            Recommendation(f"rec-{h % 3}", 1, 1.5, "exploit", f"{run}: friends", f"{run}-a"),
            Recommendation("item", 2, 0.1, "explore", f"{run}: new", f"{run}-b"),
        ],
    )


def assert_user_on(run: str, user: str, row: dict[str, Any], watermark: int) -> None:
    expected, props = profile(run, user), row["props"]
    assert props["profile_run_id"] == run and props["profile_watermark"] == watermark
    assert props["profile_interests"] == [f"{run}-a", f"{run}-b"]
    assert props["profile_interest_weights"] == [0.7, 0.3]
    assert row["edges"] == [
        [f"{run}-a", 0.7, run, list(expected.interests[0].items)],
        [f"{run}-b", 0.3, run, []],
    ]
    for key, value in expected.fields.items():
        got = props[f"profile_{key}"]
        assert got == pytest.approx(value) if isinstance(value, float) else got == value, key
    assert props["profile_embedding"] == pytest.approx(expected.embedding, abs=1e-6)
    assert row["recs"] == [
        [r.item_id, r.rank, r.kind, r.reason, r.category, run] for r in expected.recommendations
    ]
    assert props["profile_recommendations"] == [r.item_id for r in expected.recommendations]
    assert row["next"] == [[f"{run}-b", 0.6, run], [f"{run}-a", 0.25, run]]


@pytest.fixture(scope="module", params=["procedure", "cypher"])
def users(settings: object, request: pytest.FixtureRequest) -> Iterator[GraphClient]:
    """Every test twice: through profilegraph.writeProfiles (the project's server) and through
    write_profiles.cypher (a server without the plugin)."""
    from core.settings import load_settings

    with GraphClient(load_settings().neo4j) as client:
        assert client.has_procedure(WRITE_PROCEDURE)
        client.procedures[WRITE_PROCEDURE] = request.param == "procedure"
        wipe(client)
        events = [{"type": "user_upsert", "event_id": f"user-{u}", "user_id": u} for u in USERS]
        categories = [f"{run}-{x}" for run in RUNS for x in "ab"]
        events.append(
            {"type": "item_upsert", "event_id": "item", "item_id": "item", "categories": categories}
        )
        events += [
            {"type": "item_upsert", "event_id": f"rec-{n}", "item_id": f"rec-{n}"} for n in range(3)
        ]
        ingest_events(client, events, source="test")
        yield client


def test_every_field_is_written_and_stale_ones_removed(users: GraphClient) -> None:
    write_profiles(users, "run-a", 10, [profile("run-a", u) for u in USERS])
    sparse = ProfileRow(user_id="u0", embedding=[0.0] * 64, fields={"influence": 1.0})
    write_profiles(users, "run-b", 10, [sparse])
    first = users.read(PROFILES)[0]
    props = first["props"]
    assert props["profile_run_id"] == "run-b" and props["profile_influence"] == 1.0
    # run-a's interests, lists and next categories (properties and edges) did not survive
    assert props["profile_interests"] == [] and first["edges"] == []
    assert props["profile_recommendations"] == [] and first["recs"] == [] and first["next"] == []
    assert set(props) - {"user_id", "changed_seq"} <= property_names()
    assert props["profile_trail"] == ["run-b", TRAIL_SEP.join(["run-a", "run-a-a", "run-a-b"])]


def test_the_trail_keeps_one_entry_per_run_newest_first(users: GraphClient) -> None:
    for run in ("t1", "t2", "t1"):  # t1 rewritten: its entry moves to the front, not doubled
        write_profiles(users, run, 11, [ProfileRow("u1", [0.1] * 64, {}, [Interest(run, 1.0)])])
    trail = users.read(PROFILES)[1]["props"]["profile_trail"]
    assert [entry.split(TRAIL_SEP)[0] for entry in trail][:3] == ["t1", "t2", "run-a"]


def test_unchanged_interests_update_their_edges_in_place(users: GraphClient) -> None:
    def write(run: str, weights: tuple[float, float], item: str) -> None:
        interests = [Interest("run-a-a", weights[0], [item]), Interest("run-a-b", weights[1])]
        write_profiles(users, run, 12, [ProfileRow("u2", [0.2] * 64, {}, interests)])

    write("same-1", (0.6, 0.4), "x")
    write("same-2", (0.9, 0.1), "y")  # same categories, same order: the in-place path
    row = next(r for r in users.read(PROFILES) if r["user_id"] == "u2")
    assert row["props"]["profile_interest_weights"] == [0.9, 0.1]
    assert row["edges"] == [["run-a-a", 0.9, "same-2", ["y"]], ["run-a-b", 0.1, "same-2", []]]


@pytest.mark.parametrize("field", ["colour", "interests", "run_id"])
def test_unknown_or_derived_field_is_refused(users: GraphClient, field: str) -> None:
    with pytest.raises(ValueError, match=rf"profile fields \['{field}'\] are not in the contract"):
        write_profiles(users, "r", 1, [ProfileRow("u0", [0.0] * 64, {field: "red"})])


def test_killed_writer_leaves_each_user_on_one_complete_profile(users: GraphClient) -> None:
    write_profiles(users, "run-old", 20, [profile("run-old", u) for u in USERS])
    # A writer of run-new dies (os._exit, no cleanup) after 2 of its 6 batches committed.
    script = textwrap.dedent(
        """
        import os
        from graph.client import GraphClient
        from graph.writeback import write_profiles
        from core.settings import load_settings
        from tests.graph.test_writeback import USERS, profile

        def die(batches):
            if batches == 2:
                os._exit(9)

        with GraphClient(load_settings().neo4j) as client:
            write_profiles(client, "run-new", 21, [profile("run-new", u) for u in USERS],
                           batch_size=50, workers=1, after_batch=die)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 9, done.stderr
    rows = users.read(PROFILES)
    runs = {row["props"]["profile_run_id"] for row in rows}
    assert runs == {"run-old", "run-new"}  # interrupted half-way
    for row in rows:
        run = row["props"]["profile_run_id"]
        assert_user_on(run, row["user_id"], row, 21 if run == "run-new" else 20)
    # Re-running the same run converges on the complete new state, writing only what is left
    again = write_profiles(
        users, "run-new", 21, [profile("run-new", u) for u in USERS], batch_size=50
    )
    assert (again.written, again.unchanged) == (len(USERS) - 100, 100)
    for row in users.read(PROFILES):
        assert_user_on("run-new", row["user_id"], row, 21)


def test_an_older_run_never_overwrites_a_newer_one(users: GraphClient) -> None:
    write_profiles(users, "run-new2", 30, [profile("run-new2", u) for u in USERS[:10]])
    report = write_profiles(users, "run-late", 29, [profile("run-late", u) for u in USERS[:10]])
    assert (report.written, report.skipped_newer) == (0, 10)
    first = [r for r in users.read(PROFILES) if r["user_id"] in USERS[:10]]
    assert {r["props"]["profile_run_id"] for r in first} == {"run-new2"}


def test_runs_record_their_provenance(users: GraphClient) -> None:
    start_run(users, "prov-1", kind="full", model="lightgcn", params={"dim": 64}, watermark=5)
    start_run(users, "prov-1", kind="full", model="lightgcn", params={"dim": 64}, watermark=5)
    finish_run(
        users,
        "prov-1",
        status="complete",
        metrics={"recall@10": 0.2},
        timings={"train_s": 1.5},
        profiles_written=300,
    )
    row = read_run(users, "prov-1")
    assert row is not None and row["status"] == "complete" and row["model"] == "lightgcn"
    assert row["params"] == {"dim": 64} and row["timings"] == {"train_s": 1.5}
    assert row["metrics"] == {"recall@10": 0.2} and row["profiles_written"] == 300
    assert read_run(users, "no-such-run") is None
    # times, not their strings ('...21.3Z' sorts after '...21.356Z' as text)
    assert isinstance(row["started_at"], datetime) and row["started_at"].tzinfo is not None
    assert row["started_at"] <= row["finished_at"]


def test_a_written_profile_reads_back_as_the_contract(users: GraphClient) -> None:
    """Writer and reader (cypher/read_profile.cypher) agree with core.profile_contract."""
    fields = {f.name: _example(f.kind) for f in FIELDS}
    write_profiles(users, "contract-run", 40, [ProfileRow("u5", [0.5] * 64, fields, [])])
    read = read_profile(users, "u5")
    assert read is not None
    provenance = {
        "run_id",
        "watermark",
        "updated_at",
        "interests",
        "interest_weights",
        "recommendations",
    }
    assert set(read) == set(fields) | provenance
    assert {name: read[name] for name in fields} == fields
    assert read_profile(users, "no-such-user") is None


def _example(kind: str) -> object:
    examples = {"float": 0.25, "int": 7, "time": 1_700_000_000_000, "str": "s", "bool": True}
    return {**examples, "list[str]": ["a", "b"], "list[float]": [0.5, 0.25]}[kind]


EXACT_LOOKALIKES = Query(
    name="test_exact_lookalikes",
    mode="read",
    text="CALL profilegraph.lookalikes($centre, $k, $exclude) YIELD node, score "
    "RETURN node.user_id AS user_id, score",
)


def test_exact_lookalikes_are_the_true_nearest(users: GraphClient) -> None:
    """profilegraph.lookalikes (the bench's ground truth for the vector index's recall):
    cosine over every stored embedding, scored like the index ((1 + cos) / 2)."""
    import numpy as np

    ids = [f"u{n}" for n in range(200, 260)]
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((len(ids), 64))
    write_profiles(
        users,
        "run-look",
        50,
        [ProfileRow(u, v.tolist(), {}) for u, v in zip(ids, vectors, strict=True)],
    )
    centre = rng.standard_normal(64)
    stored = {r["user_id"]: np.array(r["props"]["profile_embedding"]) for r in users.read(PROFILES)}
    cosine = {
        u: float(v @ centre / (np.linalg.norm(v) * np.linalg.norm(centre)))
        for u, v in stored.items()
        if np.linalg.norm(v) > 0
    }
    expected = sorted((u for u in cosine if u != ids[0]), key=lambda u: -cosine[u])[:5]
    rows = users.read(EXACT_LOOKALIKES, centre=centre.tolist(), k=5, exclude=[ids[0]])
    assert [r["user_id"] for r in rows] == expected
    assert [r["score"] for r in rows] == pytest.approx([(1 + cosine[u]) / 2 for u in expected])


def test_rows_are_made_as_the_writers_take_them(users: GraphClient) -> None:
    """A million profiles as objects would not fit: the writer holds a few batches at most."""
    made: list[int] = []
    lazy_users = [f"lazy{n}" for n in range(300)]  # users no other test reads
    upserts = [{"type": "user_upsert", "event_id": f"user-{u}", "user_id": u} for u in lazy_users]
    ingest_events(users, upserts, source="test")

    def rows() -> Iterator[ProfileRow]:
        for n, user in enumerate(lazy_users, start=1):
            made.append(n)
            yield profile("run-lazy", user)

    ahead: list[int] = []
    report = write_profiles(
        users,
        "run-lazy",
        10,
        rows(),
        batch_size=10,
        workers=2,
        after_batch=lambda n: ahead.append(len(made) - 10 * n),
    )
    assert report.written == len(lazy_users) and report.batches == len(lazy_users) // 10
    # when a batch is done, at most the writers' batches, one waiting each, and one being made
    assert max(ahead) <= 10 * (2 * 2 + 1), ahead


def test_a_digest_sees_floats_at_the_declared_digits() -> None:
    assert digest([0.123412, "a"]) == digest([0.123414, "a"])  # equal to SAME_DIGITS = 4
    assert digest([0.1234, "a"]) != digest([0.1236, "a"])
    assert digest([[1.0, "a"]]) != digest([["a", 1.0]])  # order is content
    assert digest([{"w": 0.5, "items": ["x"]}]) != digest([{"w": 0.5, "items": ["y"]}])
    assert digest(["1"]) != digest([1])


SAME_USERS = [f"u{n}" for n in range(100, 140)]
EDGE_IDS = Query(
    name="test_edge_ids",
    mode="read",
    text="""MATCH (u:User {user_id: $user})-[r]->()
    RETURN type(r) AS type, elementId(r) AS id, r.run_id AS run_id ORDER BY type, id""",
)


def _rotated(vector: list[float], angle: float) -> list[float]:
    """The vector turned by ``angle`` radians (towards a direction orthogonal to it)."""
    import numpy as np

    v = np.asarray(vector, dtype=np.float64)
    w = np.arange(len(v), dtype=np.float64) - len(v) / 2
    w -= (w @ v) / (v @ v) * v
    w *= np.linalg.norm(v) / np.linalg.norm(w)
    return (np.cos(angle) * v + np.sin(angle) * w).tolist()


def test_a_rerun_of_the_same_profiles_writes_nothing(users: GraphClient) -> None:
    """Same values, lists and (to the tolerance) embeddings: nothing is written, and the stored
    profiles keep the run that wrote them; one embedding turned past the tolerance is."""
    rows = [profile("same", u) for u in SAME_USERS]
    first = write_profiles(users, "same-1", 60, rows, batch_size=15)
    assert (first.written, first.unchanged) == (len(rows), 0)
    before = [r for r in users.read(PROFILES) if r["user_id"] in SAME_USERS]
    # a scaled embedding points the same way; a turn of 0.01 rad is a cosine distance of 5e-5
    again = [replace(r, embedding=_rotated([2 * x for x in r.embedding], 0.01)) for r in rows]
    report = write_profiles(users, "same-2", 61, again, batch_size=15)
    assert (report.written, report.unchanged, report.skipped_newer) == (0, len(rows), 0)
    assert [r for r in users.read(PROFILES) if r["user_id"] in SAME_USERS] == before
    # 0.1 rad: a cosine distance of 5e-3, past EMBEDDING_TOLERANCE: that embedding is written
    turned = [replace(rows[0], embedding=_rotated(rows[0].embedding, 0.1)), *rows[1:]]
    report = write_profiles(users, "same-3", 62, turned, batch_size=15)
    assert (report.written, report.unchanged) == (1, len(rows) - 1)
    assert report.parts == {
        "props": 0,
        "interests": 0,
        "recommendations": 0,
        "next_categories": 0,
        "embedding": 1,
    }
    after = {r["user_id"]: r for r in users.read(PROFILES)}
    assert after[rows[0].user_id]["props"]["profile_run_id"] == "same-3"
    assert after[rows[1].user_id]["props"]["profile_run_id"] == "same-1"


def test_an_embedding_is_read_back_only_where_its_digest_moved(
    users: GraphClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same embeddings: the stored digests say so and no vector is read. A field changed
    and the embeddings turned within the tolerance: the field is written, the vectors are read
    and kept, and so is their digest (the stored digest is always the stored vector's)."""
    import graph.writeback as writeback

    asked: list[str] = []
    real = writeback.stored_embeddings

    def counted(client: GraphClient, who: list[str]) -> dict[str, list[float]]:
        asked.extend(who)
        return real(client, who)

    monkeypatch.setattr(writeback, "stored_embeddings", counted)
    rows = [profile("moves", u) for u in SAME_USERS]
    write_profiles(users, "emb-1", 80, rows, batch_size=15)
    asked.clear()  # (the module's earlier tests left profiles to compare with)
    assert write_profiles(users, "emb-2", 81, rows, batch_size=15).written == 0
    assert asked == []  # the same embeddings: their digests are equal
    first = statement_row("emb-1", 80, 0, rows[0])["digests"][EMBEDDING]
    moved = [
        replace(r, embedding=_rotated(r.embedding, 0.01), fields={**r.fields, "uncertainty": 0.9})
        for r in rows
    ]
    report = write_profiles(users, "emb-3", 82, moved, batch_size=15)
    assert report.parts["props"] == len(rows) and report.parts["embedding"] == 0
    assert sorted(asked) == sorted(SAME_USERS)
    stored = next(r for r in users.read(PROFILES) if r["user_id"] == rows[0].user_id)
    assert stored["props"]["profile_embedding"] == pytest.approx(rows[0].embedding, abs=1e-6)
    assert stored["props"]["profile_digests"][EMBEDDING] == first


def test_a_changed_list_replaces_exactly_its_edges(users: GraphClient) -> None:
    user = "u150"
    base = profile("same", user)
    write_profiles(users, "list-1", 70, [base])
    before = users.read(EDGE_IDS, user=user)
    reordered = replace(
        base,
        recommendations=[
            replace(base.recommendations[1], rank=1),
            replace(base.recommendations[0], rank=2),
        ],
    )
    report = write_profiles(users, "list-2", 71, [reordered])
    assert report.written == 1
    assert report.parts == {  # the property profile_recommendations changed with the list
        "props": 1,
        "interests": 0,
        "recommendations": 1,
        "next_categories": 0,
        "embedding": 0,
    }
    after = users.read(EDGE_IDS, user=user)
    kept = [e for e in before if e["type"] != "RECOMMENDED"]
    assert [e for e in after if e["type"] != "RECOMMENDED"] == kept  # same edges, same run
    assert {e["run_id"] for e in kept} == {"list-1"}
    recommended = [e for e in after if e["type"] == "RECOMMENDED"]
    assert len(recommended) == 2 and {e["run_id"] for e in recommended} == {"list-2"}
    row = next(r for r in users.read(PROFILES) if r["user_id"] == user)
    assert [r[0] for r in row["recs"]] == ["item", base.recommendations[0].item_id]


def test_trail_queries_read_a_user_unchanged_by_a_run_at_their_last_entry(
    users: GraphClient,
) -> None:
    """A run that finds a profile unchanged leaves no trail entry: lifecycle_moves still sees
    the user's stage at that run (their newest entry not newer than it)."""
    from graph.analyst import run_analyst_query

    def write(run: str, watermark: int, stages: dict[str, str]) -> None:
        start_run(users, run, kind="full", model="t", params={}, watermark=watermark)
        time.sleep(0.01)
        rows = [
            ProfileRow(u, [1.0] * 64, {"lifecycle_stage": stage}, [Interest("moves-a", 1.0)])
            for u, stage in stages.items()
        ]
        write_profiles(users, run, watermark, rows)

    write("mv-1", 80, {"u160": "active", "u161": "active"})
    write("mv-2", 81, {"u160": "at risk", "u161": "active"})  # u161 unchanged: no entry
    write("mv-3", 82, {"u160": "at risk", "u161": "lapsed"})  # u160 unchanged

    def moves(a: str, b: str) -> list[tuple[str, str, list[str]]]:
        rows = run_analyst_query(users, "lifecycle_moves", [f"from_run={a}", f"to_run={b}"])
        return sorted((r["before"], r["after"], r["examples"]) for r in rows)

    assert moves("mv-2", "mv-3") == [("active", "lapsed", ["u161"])]
    assert moves("mv-1", "mv-3") == [
        ("active", "at risk", ["u160"]),
        ("active", "lapsed", ["u161"]),
    ]
    assert moves("mv-1", "mv-2") == [("active", "at risk", ["u160"])]


def test_a_field_trail_is_written_where_it_is_declared(
    users: GraphClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trail is declared with its field (core.profile_contract.FIELD_TRAILS) and both writers
    write whatever is declared: one more declaration (the segment label's) is all it takes, and
    the lifecycle stage's trail is still written beside it."""
    import graph.writeback as writeback

    label_trail = FieldTrail("segment_label", "profile_segment_label_trail")
    monkeypatch.setattr(writeback, "FIELD_TRAILS", (*FIELD_TRAILS, label_trail))
    who = ["trail0", "trail1"]
    upserts = [{"type": "user_upsert", "event_id": f"user-{u}", "user_id": u} for u in who]
    ingest_events(users, upserts, source="test")
    for n, run in enumerate(("trail-a", "trail-b"), start=1):
        rows = [
            replace(p, fields={**p.fields, "lifecycle_stage": f"{run} stage"})
            for p in (profile(run, u) for u in who)
        ]
        assert write_profiles(users, run, 200 + n, rows).written == len(who)
    stored = {r["user_id"]: r["props"] for r in users.read(PROFILES) if r["user_id"] in who}
    for user in who:
        assert stored[user]["profile_segment_label_trail"] == [
            f"trail-b{TRAIL_SEP}trail-b segment",
            f"trail-a{TRAIL_SEP}trail-a segment",
        ]
        assert stored[user]["profile_stage_trail"] == [
            f"trail-b{TRAIL_SEP}trail-b stage",
            f"trail-a{TRAIL_SEP}trail-a stage",
        ]
