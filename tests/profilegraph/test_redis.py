"""The session's real Redis: authenticated round trip, settings that protect broker keys."""

from __future__ import annotations

import time
import uuid

import pytest
from pydantic import SecretStr

from core.errors import AuthenticationFailed, ServiceUnavailable
from core.settings import Settings
from profilegraph.services import redis_server


def test_round_trip_with_password(settings: Settings) -> None:
    key = f"test:{uuid.uuid4().hex}"
    with redis_server.client(settings.redis) as conn:
        conn.set(key, "value", ex=60)
        assert conn.get(key) == b"value"
        conn.delete(key)


def test_server_never_evicts_and_persists(settings: Settings) -> None:
    # CONFIG is denied to the application's user: read what INFO and the config file say
    with redis_server.client(settings.redis) as conn:
        assert conn.info("memory")["maxmemory_policy"] == "noeviction"
        assert conn.info("persistence")["aof_enabled"] == 1
    conf = (redis_server.instance_dir(settings) / "redis.conf").read_text().splitlines()
    assert "bind 127.0.0.1" in conf


def test_no_password_is_refused(settings: Settings) -> None:
    anonymous = settings.redis.model_copy(update={"password": None})
    with pytest.raises(AuthenticationFailed, match="requires a password"):
        redis_server.ping(anonymous)


def test_wrong_password_fails_fast_with_clear_error(settings: Settings) -> None:
    wrong = settings.redis.model_copy(update={"password": SecretStr("not-the-password")})
    started = time.monotonic()
    with pytest.raises(AuthenticationFailed, match="PROFILEGRAPH_REDIS__PASSWORD"):
        redis_server.ping(wrong)
    assert time.monotonic() - started < 10


def test_nothing_listening_is_service_unavailable(settings: Settings) -> None:
    closed = settings.redis.model_copy(update={"port": 1})
    with pytest.raises(ServiceUnavailable, match="does not answer"):
        redis_server.ping(closed)
