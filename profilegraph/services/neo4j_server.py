"""Run a local Neo4j server from the assembled distribution, without Docker.

Each instance is a state directory (``$PROFILEGRAPH_STATE/neo4j``: conf, data, logs, run) pointing
at the shared, read-only distribution. Start and stop go through Neo4j's own launcher
(``org.neo4j.server.startup.Neo4jBoot``, what ``bin/neo4j`` runs), which reads ``neo4j.conf``,
builds the JVM command line and writes the pid file.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from core.errors import AuthenticationFailed, ServiceStartError, ServiceUnavailable
from core.settings import Neo4jSettings, Settings
from graph.client import GraphClient
from profilegraph.services.neo4j_distribution import ensure_distribution
from profilegraph.services.neo4j_plugin import prepare_plugins
from profilegraph.services.process import (
    Instance,
    make_private,
    port_open,
    read_pid,
)
from profilegraph.services.status import ServiceStatus, process_status

# JVM flags Neo4j's stock neo4j.conf ships with, which the launcher does not add by itself.
JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+ExitOnOutOfMemoryError",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dlog4j2.disable.jmx=true",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
)


INSTANCE = Instance("neo4j", "run/neo4j.pid", "logs/neo4j.log")
instance_dir, log_path, running_pid = INSTANCE.folder, INSTANCE.log_path, INSTANCE.running_pid


def _share_mb(size: str, share: float) -> int:
    """``share`` of a Neo4j memory size (``4g``, ``512m``) in MiB."""
    units = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}
    number, unit = size[:-1], size[-1].lower()
    if unit not in units:
        number, unit = size, "m"
    return max(1, int(float(number) * units[unit] * share))


def render_config(settings: Settings, distribution: Path) -> str:
    """The whole neo4j.conf for one instance; loopback only, sized for a 2-core / 24 GiB box."""
    n, inst = settings.neo4j, instance_dir(settings)
    lines = [
        "# Written by profilegraph at every start; edit settings, not this file.",
        f"server.default_listen_address={n.host}",
        f"server.default_advertised_address={n.host}",
        f"server.bolt.listen_address={n.host}:{n.bolt_port}",
        f"server.http.listen_address={n.host}:{n.http_port}",
        # the discovery reply names this instance's own ports, and only its own origin may
        # call the HTTP API from a browser (the default allows any origin)
        f"server.bolt.advertised_address={n.host}:{n.bolt_port}",
        f"server.http.advertised_address={n.host}:{n.http_port}",
        f"dbms.security.http_access_control_allow_origin=http://{n.host}:{n.http_port}",
        "server.https.enabled=false",
        f"server.directories.lib={distribution / 'lib'}",
        f"server.directories.plugins={inst / 'plugins'}",  # GDS + ours (neo4j_plugin.py)
        f"server.directories.data={inst / 'data'}",
        f"server.directories.logs={inst / 'logs'}",
        f"server.directories.run={inst / 'run'}",
        f"server.directories.import={inst / 'import'}",
        f"server.memory.heap.initial_size={n.heap}",
        f"server.memory.heap.max_size={n.heap}",
        f"server.memory.pagecache.size={n.pagecache}",
        # No transaction may exhaust the heap (an analyst query once stopped the JVM): all
        # transactions together get 70% of it, one transaction half; the server also ends any
        # transaction after 15 minutes (analyst queries carry a shorter timeout of their own).
        f"dbms.memory.transaction.total.max={_share_mb(n.heap, 0.7)}m",
        f"db.memory.transaction.max={_share_mb(n.heap, 0.5)}m",
        "db.transaction.timeout=15m",
        "dbms.security.auth_enabled=true",
        # No lock after failed logins: anyone who reaches the Bolt port could otherwise keep
        # the application's own user locked out (each lock ~5 s, renewed by more wrong tries),
        # i.e. stop the service. The generated passwords are 192-bit random (profilegraph.
        # secrets): guessing them, lock or no lock, is not a way in.
        "dbms.security.auth_max_failed_attempts=0",
        "dbms.security.procedures.unrestricted=gds.*",
        "dbms.usage_report.enabled=false",
        # the analyst guide (graph/plugin/AnalystGuide.java): the Browser plays it after login;
        # like the Browser's own files it is static and needs no login (it holds no data)
        "server.unmanaged_extension_classes=profilegraph.guide=/profilegraph",
        "dbms.security.http_auth_allowlist=/,/browser.*,/profilegraph/guide",  # default + guide
        f"browser.remote_content_hostname_whitelist={n.host},localhost",
        f"browser.post_connect_cmd=play http://{n.host}:{n.http_port}/profilegraph/guide",
        "db.tx_log.rotation.retention_policy=2 files",
        "server.logs.gc.enabled=false",
        *(f"server.jvm.additional={flag}" for flag in JVM_FLAGS),
    ]
    return "\n".join(lines) + "\n"


def _launcher(
    settings: Settings, distribution: Path, main: str, *args: str, secret: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run a Neo4j main class. With ``secret`` the main class and its arguments travel in a
    private argument file (``java @file``, mode 0600, removed at once), so a password never
    shows on the command line (``/proc/*/cmdline`` is readable by every local user). Files
    the server writes are private to this user (umask 077)."""
    env = {
        **os.environ,
        "NEO4J_HOME": str(distribution),
        "NEO4J_CONF": str(instance_dir(settings) / "conf"),
    }
    cmd = ["java", "-cp", str(distribution / "lib" / "*")]
    with tempfile.TemporaryDirectory(prefix="neo4j-args-") as private:
        if secret:
            argfile = Path(private) / "args"
            fd = os.open(argfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write("\n".join(_quoted(a) for a in (main, *args)) + "\n")
            argv = [*cmd, f"@{argfile}"]
        else:
            argv = [*cmd, main, *args]
        return subprocess.run(
            argv,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
            umask=0o077,
        )


def _quoted(arg: str) -> str:
    """One argument in a java @file: double-quoted, with backslashes and quotes escaped."""
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _admin_password(settings: Settings) -> str:
    """The admin (neo4j) user's password; an instance set up before it had its own uses the
    application's."""
    secret = settings.neo4j.admin_password or settings.neo4j.password
    if secret is None:
        raise ServiceStartError("no Neo4j password: set PROFILEGRAPH_NEO4J__PASSWORD")
    return secret.get_secret_value()


def _password(settings: Settings) -> str:
    if settings.neo4j.password is None:
        raise ServiceStartError("no Neo4j password: set PROFILEGRAPH_NEO4J__PASSWORD")
    return settings.neo4j.password.get_secret_value()


def start(settings: Settings) -> ServiceStatus:
    """Start the instance if it is not running; a running one is left as it is."""
    if running_pid(settings) is None:
        n = settings.neo4j
        if port_open(n.host, n.bolt_port) and not _released(n.host, n.bolt_port, settings):
            raise ServiceStartError(
                f"port {n.host}:{n.bolt_port} is taken by a process that is not this instance "
                f"({instance_dir(settings)}); stop it or set PROFILEGRAPH_NEO4J__BOLT_PORT"
            )
        distribution = ensure_distribution(settings)
        inst = instance_dir(settings)
        for sub in ("conf", "data", "logs", "run", "import"):
            (inst / sub).mkdir(parents=True, exist_ok=True)
        # A pid file left by a server that died: Neo4j's launcher would take the (possibly
        # unreaped, or reused) pid for a running server and refuse to start.
        INSTANCE.pid_path(settings).unlink(missing_ok=True)
        prepare_plugins(inst / "plugins", settings.home, distribution)
        (inst / "conf" / "neo4j.conf").write_text(render_config(settings, distribution))
        make_private(inst)  # the conf just written, and an instance made before this rule
        if (
            not (inst / "data" / "dbms" / "auth.ini").exists()
            and not (inst / "data" / "databases" / "system").exists()
        ):
            done = _launcher(
                settings,
                distribution,
                "org.neo4j.cli.AdminTool",
                "dbms",
                "set-initial-password",
                "--",
                _admin_password(settings),
                secret=True,
            )
            if done.returncode != 0:
                raise ServiceStartError(f"neo4j-admin set-initial-password failed: {done.stderr}")
        done = _launcher(settings, distribution, "org.neo4j.server.startup.Neo4jBoot", "start")
        if done.returncode != 0:
            raise ServiceStartError(f"Neo4j did not start:\n{done.stdout}\n{done.stderr}")
    ensure_app_user(settings)
    wait_ready(settings)
    return status(settings)


def _admin(settings: Settings, password: str) -> Neo4jSettings:
    return settings.neo4j.model_copy(
        update={"user": "neo4j", "password": SecretStr(password), "database": "system"}
    )


def ensure_app_user(settings: Settings) -> None:
    """Wait until the server answers; create the application's user if it cannot log in yet
    (as the admin user; an instance made before the app user existed had the application's
    password on the admin user, which is tried next)."""
    if settings.neo4j.user == "neo4j":
        return
    admins = [_admin(settings, _admin_password(settings)), _admin(settings, _password(settings))]
    wait_ready(settings, admins[0], accept_auth_failure=True)
    try:
        with GraphClient(settings.neo4j) as client:
            client.ping()
        return
    except AuthenticationFailed:
        pass
    for admin in admins:
        try:
            with GraphClient(admin) as client:
                client.write(
                    "create_app_user", user=settings.neo4j.user, password=_password(settings)
                )
            return
        except AuthenticationFailed:
            continue
    raise AuthenticationFailed(
        f"Neo4j at {settings.neo4j.uri} refused the admin password from settings "
        "(PROFILEGRAPH_NEO4J__ADMIN_PASSWORD): the application's user could not be created"
    )


def _released(host: str, port: int, settings: Settings) -> bool:
    """Whether the port closes within seconds: after this instance died (its pid file names a
    process that is gone) the kernel may still be tearing its sockets down."""
    if read_pid(INSTANCE.pid_path(settings)) is None:
        return False
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if not port_open(host, port):
            return True
        time.sleep(0.2)
    return False


def wait_ready(
    settings: Settings, login: Neo4jSettings | None = None, *, accept_auth_failure: bool = False
) -> None:
    """Wait until Bolt answers a query with our credentials (not merely an open port);
    ``accept_auth_failure``: an answer refusing the credentials counts as up."""

    def answers() -> bool:
        try:
            with GraphClient(login or settings.neo4j) as client:
                client.ping()
            return True
        except ServiceUnavailable:
            return False
        except AuthenticationFailed:
            if accept_auth_failure:
                return True
            raise

    INSTANCE.wait_started(
        settings,
        answers,
        what=f"Neo4j at {settings.neo4j.uri}",
        timeout_s=settings.neo4j.start_timeout_s,
        interval_s=1.0,
    )


def admin(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``neo4j-admin`` against this instance (e.g. an offline import while it is stopped)."""
    return _launcher(settings, ensure_distribution(settings), "org.neo4j.cli.AdminTool", *args)


def stop(settings: Settings) -> None:
    if running_pid(settings) is None:
        return
    done = _launcher(
        settings, ensure_distribution(settings), "org.neo4j.server.startup.Neo4jBoot", "stop"
    )
    if running_pid(settings) is not None:
        raise ServiceStartError(f"Neo4j did not stop:\n{done.stdout}\n{done.stderr}")


def status(settings: Settings) -> ServiceStatus:
    n = settings.neo4j
    pid = running_pid(settings)
    result = process_status("neo4j", "Neo4j", n.uri, pid=pid, stale=INSTANCE.stale_pid(settings))
    if pid is None:
        return result
    try:
        with GraphClient(n) as client:
            info = client.server_info()
        result.version = f"{info.neo4j_version} {info.edition}, GDS {info.gds_version}"
    except (ServiceUnavailable, AuthenticationFailed) as exc:
        result.detail = str(exc)
    return result
