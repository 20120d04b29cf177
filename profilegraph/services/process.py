"""Small process and socket helpers shared by the Neo4j and Redis managers."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from core.errors import ServiceStartError


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(
    ready: Callable[[], bool],
    *,
    timeout_s: float,
    what: str,
    alive: Callable[[], bool] = lambda: True,
    log: Path | None = None,
    interval_s: float = 0.5,
) -> None:
    """Poll ``ready`` until true; fail fast when ``alive`` says the process died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        if not alive():
            raise ServiceStartError(f"{what} exited during start-up.{log_tail(log)}")
        time.sleep(interval_s)
    raise ServiceStartError(f"{what} did not answer within {timeout_s:.0f} s.{log_tail(log)}")


def log_tail(path: Path | None, lines: int = 20) -> str:
    if path is None or not path.exists():
        return ""
    tail = path.read_text(errors="replace").splitlines()[-lines:]
    return f"\nLast lines of {path}:\n" + "\n".join(tail)


def make_private(root: Path) -> None:
    """``root`` and everything below it readable by this user alone (folders 0700, files 0600):
    instance folders hold the data, the logs and the secrets."""
    root.chmod(0o700)
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            if not path.is_symlink():  # plugin jars are links into the shared cache
                path.chmod(0o700 if path.is_dir() else path.stat().st_mode & 0o700)
