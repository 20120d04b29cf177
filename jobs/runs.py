"""Run coordination in Redis: the one-refresh-at-a-time lock, progress, and cancel requests.

Progress lives in a hash per run (``state``, ``step``, ``percent``, ``message``) that any
process can read (``profilegraph status``); the lock holds the running refresh's id with a TTL
that each step renews, so a crashed holder cannot block refreshes for longer than the TTL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from core.settings import Settings

LOCK = "profilegraph:refresh-lock"
TERMINAL = ("complete", "failed", "cancelled", "refused")

# Release only if we still hold it (compare-and-delete in one step).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


CLAIM_TTL_S = 400 * 24 * 3600  # past it, the run's record in Neo4j still refuses the id


def _key(run_id: str) -> str:
    return f"profilegraph:run:{run_id}"


class RunBoard:
    def __init__(self, conn: redis.Redis, lock_ttl_s: int) -> None:
        self.conn = conn
        self.lock_ttl_s = lock_ttl_s

    @classmethod
    def connect(cls, settings: Settings) -> RunBoard:
        """The board of the configured Redis, with the configured lock TTL."""
        return cls(redis.Redis.from_url(settings.redis.url()), settings.refresh.lock_ttl_s)

    def acquire(self, run_id: str) -> str | None:
        """None if ``run_id`` now holds the lock (or already did); else the holder's id."""
        if self.conn.set(LOCK, run_id, nx=True, ex=self.lock_ttl_s):
            return None
        holder = self.conn.get(LOCK)
        holder_id = holder.decode() if holder else None
        return None if holder_id == run_id else holder_id or "unknown"

    def claim(self, run_id: str, by: str) -> str:
        """Take ``run_id`` for one request, ``by`` (its task id): ``"new"`` if it is now this
        request's, ``"retry"`` if it already was (the same task, retried), ``"taken"`` if
        another request had it. A run id names one run, once: a second request with the
        same id must not run beside the first, nor redo a finished run under its record."""
        key = f"{_key(run_id)}:claim"
        if self.conn.set(key, by, nx=True, ex=CLAIM_TTL_S):
            return "new"
        held = self.conn.get(key)
        return "retry" if held is not None and held.decode() == by else "taken"

    def renew(self, run_id: str) -> None:
        if self.holder() == run_id:
            self.conn.expire(LOCK, self.lock_ttl_s)

    @contextmanager
    def heartbeat(self, run_id: str, every_s: float | None = None) -> Iterator[None]:
        """Keep the run's lock (and its ``heartbeat`` stamp) fresh while the block runs, however
        long one step of it takes: a refresh outlives its lock TTL only if its process dies."""
        stop = threading.Event()
        interval = every_s or max(1.0, self.lock_ttl_s / 4)

        def beat() -> None:
            while not stop.wait(interval):
                try:
                    self.renew(run_id)
                    self.update(run_id, heartbeat=f"{time.time():.0f}")
                except redis.RedisError:  # a Redis hiccup: the next beat tries again
                    continue

        thread = threading.Thread(target=beat, name=f"heartbeat-{run_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def holder(self) -> str | None:
        value = self.conn.get(LOCK)
        return value.decode() if value else None

    def release(self, run_id: str) -> None:
        self.conn.eval(_RELEASE, 1, LOCK, run_id)

    def update(self, run_id: str, **fields: Any) -> None:
        values = {k: str(v) for k, v in fields.items()}
        values["updated"] = f"{time.time():.3f}"
        self.conn.hset(_key(run_id), mapping=values)
        self.conn.expire(_key(run_id), 7 * 24 * 3600)

    def count(self, run_id: str, field: str) -> int:
        return int(self.conn.hincrby(_key(run_id), field, 1))

    def get(self, run_id: str) -> dict[str, str]:
        raw = self.conn.hgetall(_key(run_id))
        return {k.decode(): v.decode() for k, v in raw.items()}

    def request_cancel(self, run_id: str) -> bool:
        """Ask a run to stop at its next step; False if it is unknown or already over."""
        state = self.get(run_id).get("state")
        if state is None or state in TERMINAL:
            return False
        self.conn.set(f"{_key(run_id)}:cancel", 1, ex=7 * 24 * 3600)
        return True

    def cancel_requested(self, run_id: str) -> bool:
        return bool(self.conn.exists(f"{_key(run_id)}:cancel"))


def duration_text(seconds: float) -> str:
    """``2m05s`` / ``40s``: how run progress states a time."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
