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


def _listening(pid: int) -> list[str]:
    """The addresses (host:port) on which process ``pid`` accepts TCP connections."""
    import ipaddress

    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            hex_host, hex_port = local.split(":")
            raw = bytes.fromhex(hex_host)
            # /proc/net/tcp writes each 32-bit word in host (little-endian) order
            ordered = b"".join(raw[i : i + 4][::-1] for i in range(0, size, 4))
            host = ipaddress.ip_address(ordered)
            found.append(f"{host}:{int(hex_port, 16)}")
    return found


def test_services_listen_on_loopback_only(settings: Settings) -> None:
    import ipaddress

    from profilegraph.services import neo4j_server, redis_server
    from profilegraph.services.process import read_pid

    pids = {
        "neo4j": neo4j_server.running_pid(settings),
        "redis": read_pid(redis_server.instance_dir(settings) / "redis.pid"),
    }
    for service, pid in pids.items():
        assert pid is not None, f"{service} is not running"
        addresses = _listening(pid)
        assert addresses, f"{service} (pid {pid}) listens nowhere: the scan is wrong"
        hosts = {a: ipaddress.ip_address(a.rsplit(":", 1)[0]) for a in addresses}
        # an IPv4 address the JVM holds on an IPv6 socket reads ::ffff:127.0.0.1
        exposed = [
            a for a, h in hosts.items() if not (getattr(h, "ipv4_mapped", None) or h).is_loopback
        ]
        assert not exposed, f"{service} listens beyond loopback: {exposed}"


def test_no_service_answers_without_credentials(settings: Settings) -> None:
    import urllib.error
    import urllib.request

    import neo4j
    import redis

    n, r = settings.neo4j, settings.redis
    with (
        pytest.raises(neo4j.exceptions.AuthError),
        neo4j.GraphDatabase.driver(f"bolt://{n.host}:{n.bolt_port}", auth=None) as driver,
    ):
        driver.verify_connectivity()
    with (
        pytest.raises(neo4j.exceptions.AuthError),
        neo4j.GraphDatabase.driver(
            f"bolt://{n.host}:{n.bolt_port}", auth=(n.user, "not-the-password")
        ) as driver,
    ):
        driver.verify_connectivity()
    request = urllib.request.Request(
        f"http://{n.host}:{n.http_port}/db/{n.database}/query/v2",
        data=b'{"statement": "MATCH (u:User) RETURN count(u)"}',
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401
    with (
        pytest.raises(redis.AuthenticationError),
        redis.Redis(host=r.host, port=r.port, socket_timeout=5) as anonymous,
    ):
        anonymous.get("profilegraph:refresh-lock")


def test_kafka_listens_on_loopback_only_and_refuses_strangers(kafka: Settings) -> None:
    """Both listeners (clients and the controller, which takes admin requests) are on loopback
    and want the password: a client without SASL, or with a wrong password, gets nothing."""
    import ipaddress

    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    from profilegraph.services import kafka_server

    k = kafka.kafka
    pid = kafka_server.running_pid(kafka)
    assert pid is not None
    addresses = _listening(pid)
    assert {int(a.rsplit(":", 1)[1]) for a in addresses} >= {k.port, k.port + 1}, addresses
    for address in addresses:
        host = ipaddress.ip_address(address.rsplit(":", 1)[0])
        assert (getattr(host, "ipv4_mapped", None) or host).is_loopback, address
    assert kafka_server.broker_version(k)  # the right password works
    for port in (k.port, k.port + 1):
        strangers = [
            {"bootstrap.servers": f"{k.host}:{port}"},  # no SASL at all
            {**k.client_config(), "bootstrap.servers": f"{k.host}:{port}", "sasl.password": "x"},
        ]
        for config in strangers:
            with pytest.raises(KafkaException):
                AdminClient({**config, "log_level": 0}).list_topics(timeout=3)
    inst = kafka_server.instance_dir(kafka)
    # Kafka's store, config (with the password) and logs are this user's alone
    exposed = [p for p in [inst, *inst.rglob("*")] if p.stat().st_mode & 0o077]
    assert not exposed, exposed
