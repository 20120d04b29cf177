"""Run a local Redis (Debian's redis-server) on loopback with a password.

Redis is the Celery broker and result backend and carries the event stream, so it must never
evict a key (``noeviction``) and must survive a restart (append-only file in the state dir).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import redis

from core.errors import AuthenticationFailed, ServiceStartError, ServiceUnavailable
from core.settings import RedisSettings, Settings
from profilegraph.services.process import (
    Instance,
    make_private,
    port_open,
)
from profilegraph.services.status import ServiceStatus, process_status

INSTANCE = Instance("redis", "redis.pid", "redis.log")
instance_dir, log_path, running_pid = INSTANCE.folder, INSTANCE.log_path, INSTANCE.running_pid

# Commands the application never needs and an intruder would want: configuration, debugging,
# modules, users, replication, raw dumps, wiping and stopping the server (the service manager
# stops Redis with a signal, not SHUTDOWN). BGREWRITEAOF and BGSAVE stay allowed: with them an
# erasure makes deleted data leave Redis' files (jobs.erasure).
DENIED_COMMANDS = (
    "config",
    "debug",
    "module",
    "acl",
    "monitor",
    "replicaof",
    "slaveof",
    "failover",
    "sync",
    "psync",
    "migrate",
    "restore",
    "cluster",
    "flushall",
    "flushdb",
    "swapdb",
    "shutdown",
)


def _started_mark(settings: Settings) -> Path:
    """Present from a start to a stop: a server gone while it is there ended unasked, even
    cleanly (Redis removes its pid file on any orderly exit)."""
    return instance_dir(settings) / "started"


def render_config(settings: Settings) -> str:
    r, inst = settings.redis, instance_dir(settings)
    if r.password is None:
        raise ServiceStartError("no Redis password: set PROFILEGRAPH_REDIS__PASSWORD")
    return (
        "\n".join(
            [
                "# Written by profilegraph at every start; holds a secret, mode 0600.",
                f"bind {r.host}",
                "protected-mode yes",
                f"port {r.port}",
                "daemonize yes",
                f"pidfile {inst / 'redis.pid'}",
                f"logfile {inst / 'redis.log'}",
                f"dir {inst}",
                # the application's user (Redis' default one, with the password), which may
                # not reconfigure, inspect or wipe the server
                f"user default on >{r.password.get_secret_value()} ~* &* +@all "
                + " ".join(f"-{command}" for command in DENIED_COMMANDS),
                "maxmemory-policy noeviction",
                "appendonly yes",
                "appendfsync everysec",
                "save 300 10",
            ]
        )
        + "\n"
    )


def client(r: RedisSettings) -> redis.Redis:
    """A client that fails in seconds, not minutes, when Redis is down or the password is wrong."""
    return redis.Redis(
        host=r.host,
        port=r.port,
        db=r.db,
        password=r.password.get_secret_value() if r.password else None,
        socket_connect_timeout=r.connect_timeout_s,
        socket_timeout=r.connect_timeout_s,
    )


def ping(r: RedisSettings) -> str:
    """Return the server version, or raise a profilegraph error that says what went wrong."""
    where = f"Redis at {r.host}:{r.port}"
    try:
        with client(r) as conn:
            conn.ping()
            return str(conn.info("server")["redis_version"])
    except (redis.AuthenticationError, redis.ResponseError) as exc:
        if not isinstance(exc, redis.AuthenticationError) and "NOAUTH" not in str(exc):
            raise
        if r.password is None:
            raise AuthenticationFailed(
                f"{where} requires a password and settings have none (PROFILEGRAPH_REDIS__PASSWORD)"
            ) from exc
        raise AuthenticationFailed(
            f"{where} refused the password from settings (PROFILEGRAPH_REDIS__PASSWORD or the "
            "local env file)"
        ) from exc
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise ServiceUnavailable(f"{where} does not answer: {exc}") from exc


def start(settings: Settings) -> ServiceStatus:
    if running_pid(settings) is None:
        r = settings.redis
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceStartError("redis-server is not installed: apt-get install redis-server")
        if port_open(r.host, r.port):
            raise ServiceStartError(
                f"port {r.host}:{r.port} is taken by a process that is not this instance; "
                "stop it or set PROFILEGRAPH_REDIS__PORT"
            )
        inst = instance_dir(settings)
        inst.mkdir(parents=True, exist_ok=True)
        make_private(inst)
        conf = inst / "redis.conf"
        conf.touch(mode=0o600)
        conf.write_text(render_config(settings))
        done = subprocess.run(
            [binary, str(conf)], capture_output=True, text=True, check=False, umask=0o077
        )
        if done.returncode != 0:
            raise ServiceStartError(f"redis-server failed: {done.stdout}{done.stderr}")
        _started_mark(settings).touch(mode=0o600)

    def answers() -> bool:
        try:
            ping(settings.redis)
            return True
        except ServiceUnavailable:
            return False

    INSTANCE.wait_started(
        settings,
        answers,
        what=f"Redis at {settings.redis.host}:{settings.redis.port}",
        timeout_s=30,
        interval_s=0.2,
    )
    return status(settings)


def stop(settings: Settings) -> None:
    """SIGTERM: Redis saves and exits in order (the application's user may not SHUTDOWN)."""
    _started_mark(settings).unlink(missing_ok=True)
    INSTANCE.terminate(settings, what="Redis shutdown", timeout_s=30)


def status(settings: Settings) -> ServiceStatus:
    r = settings.redis
    pid = running_pid(settings)
    result = process_status(
        "redis",
        "Redis",
        r.url(masked=True),
        pid=pid,
        stale=INSTANCE.stale_pid(settings),
        ended_unasked=_started_mark(settings).exists(),  # gone in order, but not by stop
    )
    if pid is not None:
        try:
            result.version = ping(r)
        except (ServiceUnavailable, AuthenticationFailed) as exc:
            result.detail = str(exc)
    return result
