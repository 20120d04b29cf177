"""Privacy through the real refresh steps on real Neo4j + Redis: pseudonymous run files,
consent, erasure that reaches every copy, retention, and sensitive attributes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from core.settings import Settings
from graph.client import GraphClient
from graph.datasets.synthetic import (
    SyntheticConfig,
    generate,
    synthetic_events,
    synthetic_user_events,
)
from graph.export import export_snapshot
from graph.profiles import review_evidence
from graph.queries import Query
from graph.selections import Consent, WholeGraph
from graph.source import ingest_events
from graph.stream import RedisStreamSource, publish
from jobs.consume import consume
from jobs.erasure import persisted
from jobs.payloads import RefreshRequest
from jobs.pseudonyms import FILE
from jobs.refresh import refresh_here, run_files
from jobs.retention import expire_dead_letters
from profilegraph.jobs_cli import render_profile
from tests.graph.conftest import wipe

N_USERS = 80
N_ITEMS = 40


def user(n: int) -> str:
    return f"cust-{n:03d}-zq"  # ids and names nothing else could contain by chance


def name(n: int) -> str:
    return f"Zebedee Quux{n:03d}"


def item(n: int) -> str:
    return f"sku-{n:03d}-xv"


def _renamed(event: dict[str, Any]) -> dict[str, Any]:
    out = dict(event)
    for key in ("user_id", "target_user_id"):
        if key in out:
            out[key] = user(int(out[key][1:]))
    if "item_id" in out:
        out["item_id"] = item(int(out["item_id"][1:]))
    if out["type"] == "user_upsert":
        out["name"] = name(int(out["user_id"].split("-")[1]))
    return out


@pytest.fixture
def shop(graph: GraphClient) -> Iterator[GraphClient]:
    wipe(graph)
    data = generate(SyntheticConfig(n_users=N_USERS, n_items=N_ITEMS, n_categories=8, seed=6))
    events = [*synthetic_user_events(data), *synthetic_events(data)]
    ingest_events(graph, [_renamed(e) for e in events], source="privacy")
    yield graph


def _with(settings: Settings, **privacy: Any) -> Settings:
    return settings.model_copy(
        update={
            "training": settings.training.model_copy(update={"device": "cpu"}),
            "next": settings.next.model_copy(
                update={"sequence_epochs": 2, "sequence_time_budget_s": 20.0}
            ),
            "privacy": settings.privacy.model_copy(update=privacy),
        }
    )


def _refresh(settings: Settings, mode: str) -> str:
    request = RefreshRequest(mode=mode, source="test", max_epochs=2)  # type: ignore[arg-type]
    return refresh_here(settings, request)


PROFILED = Query(
    name="test_profiled",
    mode="read",
    text="MATCH (u:User) WHERE u.profile_run_id IS NOT NULL RETURN u.user_id AS user_id",
)
PROFILE = Query(
    name="test_profile",
    mode="read",
    text="""
    MATCH (u:User {user_id: $user_id})
    RETURN u.profile_run_id AS run_id, [k IN keys(u) WHERE k STARTS WITH 'profile_'] AS props,
           COUNT { (u)-[:INTERESTED_IN|RECOMMENDED|NEXT_CATEGORY]->() } AS edges,
           [(u)-[r:RECOMMENDED]->(i) | i.item_id] AS recommended,
           [(u)-[r:INTERESTED_IN]->() | r.items] AS evidence
    """,
)


PRIVATE = "Deliver to Zebedee at 7 Quuxwick Lane"  # one writer: never a term


def _review(n: int, stars: float, text: str) -> dict[str, Any]:
    return {
        "type": "interaction",
        "event_id": f"rv{n}",
        "user_id": user(n),
        "item_id": item(n % 4),
        "kind": "review",
        "weight": stars,
        "text": text,
        "ts": 1_760_000_000_000 + n * 3_600_000,
    }


REVIEWS = [
    *(_review(n, 1, "The sole came off, terrible glue. Awful shoes.") for n in range(0, 6)),
    *(_review(n, 5, "Great quality, lovely soft leather, great price.") for n in range(6, 12)),
    _review(12, 2, f"Terrible glue again. {PRIVATE}"),
]
REVIEW_FIELDS = ("sentiment", "negative_reviews", "keywords", "sentiment_explanation")
REVIEW_PROFILE = Query(
    name="test_review_profile",
    mode="read",
    text="MATCH (u:User {user_id: $user_id}) RETURN u{.*} AS p",
)


def test_run_files_hold_pseudonyms_and_profiles_real_ids(
    settings: Settings, shop: GraphClient
) -> None:
    ingest_events(shop, REVIEWS, source="reviews")
    config = _with(settings)
    full = _refresh(config, "full")
    folder = run_files(config, full).folder
    secrets = [user(n) for n in range(N_USERS)] + [name(n) for n in range(N_USERS)]
    secrets += [item(n) for n in range(N_ITEMS)]
    # the reviews' words stay in the graph: only terms five writers used leave it
    secrets += [e["text"] for e in REVIEWS] + [PRIVATE, "Zebedee", "zebedee", "quuxwick"]
    for file in ("snapshot.pt", "result.pt", "state.pt", "text_model.pt"):
        data = (folder / file).read_bytes()
        found = [s for s in secrets if s.encode() in data]
        assert not found, f"{file} names {found[:5]}"
    unhappy = shop.read(REVIEW_PROFILE, user_id=user(12))[0]["p"]
    assert unhappy["profile_negative_reviews"] == 1 and unhappy["profile_sentiment"] < 0.5
    assert unhappy["profile_keywords"][:2] == ["glue", "terrible"]  # 7 writers each: terms
    assert "scored by vader" in unhappy["profile_sentiment_explanation"]
    # the evidence is quoted from the review itself, at read time: no file holds it
    quote = review_evidence(shop, user(12))
    written = f"Terrible glue again. {PRIVATE}"
    assert quote == f'on {item(0)}: "{written[: len(written) * 2 // 3]}..."'
    assert f"latest negative review, {quote}" in render_profile({}, [], [], quote)
    assert review_evidence(shop, user(7)) is None
    happy = shop.read(REVIEW_PROFILE, user_id=user(7))[0]["p"]
    assert happy["profile_sentiment"] > 0.5 and "profile_last_negative_review" not in happy
    assert shop.read(REVIEW_PROFILE, user_id=user(30))[0]["p"].get("profile_sentiment") is None
    assert user(1).encode() in (folder / FILE).read_bytes()  # the mapping, on the cpu side
    # the writer resolved every pseudonym: real item ids on the edges and in explanations
    row = shop.read(PROFILE, user_id=user(1))[0]
    assert row["run_id"] == full and len(row["recommended"]) == 10
    assert all(i.startswith("sku-") for i in row["recommended"])
    assert all(i.startswith("sku-") for items in row["evidence"] for i in items)
    # an incremental run extends the full run's pseudonyms: the same person, the same name
    ingest_events(
        shop,
        [
            {
                "type": "interaction",
                "event_id": "p1",
                "user_id": user(1),
                "item_id": item(2),
                "kind": "purchase",
            }
        ],
        source="test",
    )
    before = shop.read(REVIEW_PROFILE, user_id=user(1))[0]["p"]
    inc = _refresh(config, "incremental")
    import json

    # the incremental run applied the full run's text model: the same figures for user 1
    after = shop.read(REVIEW_PROFILE, user_id=user(1))[0]["p"]
    assert after["profile_run_id"] == inc
    assert [after.get("profile_" + f) for f in REVIEW_FIELDS] == [
        before.get("profile_" + f) for f in REVIEW_FIELDS
    ]

    base = json.loads((folder / FILE).read_text())["ids"]["user"]
    later = json.loads((run_files(config, inc).folder / FILE).read_text())["ids"]["user"]
    assert later and all(base[p] == ext for p, ext in later.items() if p in base)
    assert shop.read(PROFILE, user_id=user(1))[0]["run_id"] == inc


def test_consent_decides_who_is_profiled(settings: Settings, shop: GraphClient) -> None:
    refuse = {"type": "user_upsert", "user_id": user(2), "profiling_consent": False}
    ingest_events(shop, [{**refuse, "event_id": "c1"}], source="test")
    config = _with(settings)
    _refresh(config, "full")
    assert shop.read(PROFILE, user_id=user(2))[0]["props"] == []
    assert shop.read(PROFILE, user_id=user(3))[0]["edges"] > 0
    # withdrawn: the next refresh removes the profile, its edges and its trail
    withdraw = {"type": "user_upsert", "user_id": user(3), "profiling_consent": False}
    ingest_events(shop, [{**withdraw, "event_id": "c2"}], source="test")
    _refresh(config, "incremental")
    row = shop.read(PROFILE, user_id=user(3))[0]
    assert row["props"] == [] and row["edges"] == 0
    # where nobody is profiled without a yes, only the yes are
    yes = [
        {"type": "user_upsert", "event_id": f"y{n}", "user_id": user(n), "profiling_consent": True}
        for n in range(10, 40)
    ]
    ingest_events(shop, yes, source="test")
    strict = _with(settings, consent_default=False)
    run = _refresh(strict, "full")
    profiled = {r["user_id"] for r in shop.read(PROFILED)}
    assert profiled == {user(n) for n in range(10, 40)}
    assert run


def test_unconsented_users_can_be_context_but_never_seeds(
    settings: Settings, shop: GraphClient
) -> None:
    refuse = {"type": "user_upsert", "user_id": user(4), "profiling_consent": False}
    ingest_events(shop, [{**refuse, "event_id": "c4"}], source="test")
    left_out = export_snapshot(shop, WholeGraph())
    assert user(4) not in left_out.node_ids["user"]
    context = export_snapshot(shop, WholeGraph(), consent=Consent(as_context=True))
    where = context.node_ids["user"].index(user(4))
    seeds = context.node_features["user"]["seed"]
    assert not bool(seeds[where]) and int(seeds.sum()) == context.num_nodes("user") - 1


def test_sensitive_attributes_stay_out_of_snapshots_unless_enabled(
    settings: Settings, shop: GraphClient, tmp_path: Path
) -> None:
    plain = export_snapshot(shop, WholeGraph())
    plain.save(tmp_path / "plain.pt")
    data = (tmp_path / "plain.pt").read_bytes()
    assert not any(key.startswith("sensitive_") for key in plain.node_features["user"])
    assert b"age_band" not in data and b"female" not in data and b"25-34" not in data
    enabled = export_snapshot(shop, WholeGraph(), sensitive=("age_band", "gender"))
    labels = enabled.selection["sensitive"]
    assert set(labels["gender"]) <= {"female", "male", "other"} and labels["age_band"]
    assert int((enabled.node_features["user"]["sensitive_gender"] >= 0).sum()) == N_USERS


ALL_PROPERTIES = Query(
    name="test_all_properties",
    mode="read",
    text="""
    CALL () { MATCH (n) RETURN labels(n) AS what, properties(n) AS props
              UNION ALL
              MATCH ()-[r]->() RETURN [type(r)] AS what, properties(r) AS props }
    RETURN what, props
    """,
)


def _redis_values(conn: redis.Redis) -> Iterator[tuple[bytes, bytes]]:
    for key in conn.scan_iter(count=1000):
        kind = conn.type(key)
        if kind == b"string":
            yield key, conn.get(key) or b""
        elif kind == b"list":
            yield key, b"".join(conn.lrange(key, 0, -1))
        elif kind == b"hash":
            yield key, b"".join(k + v for k, v in conn.hgetall(key).items())
        elif kind in (b"set", b"zset"):
            members = conn.smembers(key) if kind == b"set" else conn.zrange(key, 0, -1)
            yield key, b"".join(members)
        elif kind == b"stream":
            entries = conn.xrange(key)
            yield key, b"".join(v for _, f in entries for v in f.values())
        yield key, key


def test_erasure_reaches_every_copy(settings: Settings, shop: GraphClient) -> None:
    config = _with(settings)
    _refresh(config, "full")
    victim = user(7)
    follower = shop.read(
        Query(
            name="test_follower",
            mode="read",
            text="MATCH (f:User)-[:FOLLOWS]->(:User {user_id: $id}) RETURN count(f) AS n",
        ),
        id=victim,
    )[0]["n"]
    assert follower > 0, "pick a victim with followers: their explanations name them"
    # a dead letter, a malformed task message, and stream messages that name the victim
    bad = {
        "type": "interaction",
        "event_id": "bad",
        "user_id": victim,
        "item_id": item(1),
        "kind": "teleport",
    }
    # the same id spelt with a JSON escape: only decoding finds it (raw text matching did not)
    escaped = victim[:-1] + f"\\u{ord(victim[-1]):04x}"
    spelt = json.dumps({**bad, "event_id": "bad-escaped"}).replace(f'"{victim}"', f'"{escaped}"')
    assert victim not in spelt
    ingest_events(shop, [bad, spelt], source="test")
    with redis.Redis.from_url(config.redis.url()) as conn:
        conn.lpush("profilegraph:dead-messages", f'{{"user_id": "{victim}"'.encode())
        conn.lpush("profilegraph:dead-messages", f"[{victim}, 2".encode())  # no quotes
        stream = f"test-erasure-{time.monotonic_ns()}"
        delete = {"type": "user_delete", "event_id": "erase-7", "user_id": victim}
        later = {
            "type": "interaction",
            "event_id": "later",
            "user_id": victim,
            "item_id": item(3),
            "kind": "view",
        }
        publish(conn, [delete, later, f"{{user_id: {victim}}}"], stream=stream)  # no quotes
        consumer = RedisStreamSource(conn, stream=stream, batch_size=1)
        # the delete (the deployment's wiring: jobs.consume); erasure then removes the
        # messages after it from this stream
        assert consume(config, shop, consumer, max_batches=1).applied == 1
        assert conn.xlen(stream) == 0
        consumer.until_empty = True
        assert consume(config, shop, consumer).applied == 0  # nothing brought the victim back
        deadline = time.monotonic() + 60
        while not (
            persisted(conn) and conn.info("persistence")["rdb_changes_since_last_save"] == 0
        ):
            assert time.monotonic() < deadline, conn.info("persistence")
            time.sleep(0.2)
        needles = (victim.encode(), name(7).encode())
        in_redis = [k for k, v in _redis_values(conn) if any(n in v for n in needles)]
    assert not in_redis, in_redis
    in_neo4j = [
        r["what"]
        for r in shop.read(ALL_PROPERTIES)
        if victim in str(r["props"]) or name(7) in str(r["props"])
    ]
    assert not in_neo4j, in_neo4j
    kept = shop.read(
        Query(
            name="test_escaped",
            mode="read",
            text="MATCH (r:RejectedEvent) WHERE r.raw CONTAINS $s RETURN count(r) AS n",
        ),
        s=escaped,
    )
    assert kept == [{"n": 0}]  # the escaped spelling went too
    # every file under the state directory; Neo4j's store is searched through its properties
    # above (its files keep deleted records' bytes until reused: docs/privacy.md)
    state = config.state
    files = [p for p in state.rglob("*") if p.is_file() and (state / "neo4j") not in p.parents]
    assert any("appendonly" in str(p) for p in files)  # Redis' files are among them
    holding = [str(p) for p in files if any(n in p.read_bytes() for n in needles)]
    assert not holding, holding


def test_dead_letters_expire(settings: Settings, shop: GraphClient) -> None:
    bad = {
        "type": "interaction",
        "event_id": "old",
        "user_id": user(1),
        "item_id": item(1),
        "kind": "teleport",
    }
    ingest_events(shop, [bad], source="test")
    count = Query(
        name="test_dead", mode="read", text="MATCH (r:RejectedEvent) RETURN count(r) AS n"
    )
    assert shop.read(count)[0]["n"] == 1
    assert expire_dead_letters(shop, max_age_days=1) == 0  # a fresh one stays
    age = Query(name="test_age", mode="write", text="MATCH (r:RejectedEvent) SET r.at = 0")
    shop.write(age)
    assert expire_dead_letters(shop, max_age_days=1) == 1
    assert shop.read(count)[0]["n"] == 0
