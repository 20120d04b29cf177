"""What a local intruder could read or change: state files, the password on a command line, the
HTTP discovery reply, and what the application's Redis user may do."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings


def test_state_is_private_and_the_password_never_on_a_command_line(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Store files, Redis' append-only files (events, task payloads), secrets and logs are this
    user's alone; the first-start password travels in a private argument file."""
    import stat
    import subprocess

    from profilegraph.services import neo4j_server

    def exposed(root: Path) -> list[str]:
        paths = [root, *root.rglob("*")]
        others = stat.S_IRWXG | stat.S_IRWXO
        return [str(p) for p in paths if not p.is_symlink() and p.stat().st_mode & others]

    # the services' own files, every one of them (store, append-only files, logs, configs)
    assert not exposed(settings.state / "neo4j"), exposed(settings.state / "neo4j")[:10]
    assert not exposed(settings.state / "redis"), exposed(settings.state / "redis")[:10]
    # and the state folder, whatever else the jobs keep in it (runs: snapshots and results)
    assert settings.state.stat().st_mode & 0o777 == 0o700
    assert (settings.state / "profilegraph.env").stat().st_mode & 0o777 == 0o600

    seen: dict[str, object] = {}

    def fake_run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        argfile = Path(argv[-1].removeprefix("@"))
        seen.update(argv=argv, mode=argfile.stat().st_mode & 0o777, text=argfile.read_text())
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(neo4j_server.subprocess, "run", fake_run)
    secret = "pg-S3cret with space"
    neo4j_server._launcher(settings, Path("/nowhere"), "org.Main", "--", secret, secret=True)
    assert secret not in " ".join(seen["argv"])  # type: ignore[arg-type]
    assert seen["mode"] == 0o600 and '"pg-S3cret with space"' in str(seen["text"])
    assert not Path(seen["argv"][-1][1:]).exists()  # type: ignore[index]


def test_discovery_names_our_bolt_port_and_no_wildcard_origin(settings: Settings) -> None:
    import json
    import urllib.request

    n = settings.neo4j
    with urllib.request.urlopen(f"http://{n.host}:{n.http_port}/", timeout=10) as reply:
        discovery = json.loads(reply.read())
        origin = reply.headers.get("Access-Control-Allow-Origin")
    assert discovery["bolt_direct"].endswith(f":{n.bolt_port}"), discovery
    assert origin != "*"


def test_the_application_user_cannot_reconfigure_redis(settings: Settings) -> None:
    import redis

    from profilegraph.services.redis_server import client

    with client(settings.redis) as conn:
        for command in (("CONFIG", "GET", "dir"), ("DEBUG", "SLEEP", "0"), ("MODULE", "LIST")):
            with pytest.raises(redis.ResponseError, match=r"(?i)no permissions|not allowed"):
                conn.execute_command(*command)
        assert conn.ping()
