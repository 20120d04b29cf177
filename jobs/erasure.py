"""The right to be forgotten, beyond Neo4j: every copy of an erased user's data the system keeps.

A ``user_delete`` event erases the user inside Neo4j in its ingest transaction
(``cypher/delete_users.cypher``: the user, their interactions, orders, follows both ways,
profile edges, their id in followers' explanations, and their dead letters). What lies outside
the graph is erased here, right after that commit, by whoever ran the ingest (the stream
consumer, the ingest task, the CLI):

- **the event stream**: messages still waiting that name the user;
- **Redis' dead messages**: undecodable task messages that contain the id;
- **run files**: the user leaves every run's pseudonym mapping (``jobs.pseudonyms``), so the
  snapshot, state and result rows still kept name no one; the same for CLI export mappings;
- **Redis' own files**: the append-only file is rewritten and a snapshot saved, so what was
  deleted from Redis leaves its disk too.

Neo4j's store files and its last two transaction-log files still hold the deleted records'
bytes until the store reuses the space and the logs rotate (docs/privacy.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import redis

from core.redis_keys import DEAD_MESSAGES, EVENT_STREAM
from core.settings import Settings
from graph.stream import erase_stream, names_user
from jobs.pseudonyms import forget_everywhere


@dataclass
class ErasureReport:
    stream_messages: int = 0
    dead_messages: int = 0
    mapping_files: int = 0


def erase_dead_messages(conn: redis.Redis, ids: set[str]) -> int:
    removed = 0
    for raw in conn.lrange(DEAD_MESSAGES, 0, -1):
        if names_user(raw, ids):
            removed += int(conn.lrem(DEAD_MESSAGES, 0, raw))
    return removed


def erase_copies(
    settings: Settings, user_ids: Iterable[str], *, stream: str = EVENT_STREAM
) -> ErasureReport:
    """Erase these (already deleted) users from everything outside Neo4j (``stream``: the event
    stream in use, when not the default one)."""
    ids = set(user_ids)
    report = ErasureReport()
    if not ids:
        return report
    report.mapping_files = forget_everywhere(settings.state / "runs", ids) + forget_everywhere(
        settings.state / "exports", ids
    )
    with redis.Redis.from_url(settings.redis.url()) as conn:
        report.stream_messages = erase_stream(conn, ids, stream)
        report.dead_messages = erase_dead_messages(conn, ids)
        compact(conn)
    return report


def compact(conn: redis.Redis, *, wait_s: float = 60.0) -> None:
    """Rewrite Redis' append-only file, then save a fresh snapshot, so deleted keys and stream
    entries leave its disk. A rewrite already running began before the deletions: it is waited
    out and a new one started."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            conn.execute_command("BGREWRITEAOF")
            break
        except redis.ResponseError as error:
            if "in progress" not in str(error).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    conn.execute_command("BGSAVE", "SCHEDULE")


def persisted(conn: redis.Redis) -> bool:
    """Whether Redis has no rewrite or save running or scheduled (its files are current)."""
    info = conn.info("persistence")
    return not any(
        info.get(key)
        for key in ("aof_rewrite_in_progress", "aof_rewrite_scheduled", "rdb_bgsave_in_progress")
    )
