"""What the service managers share: where an instance lives (:class:`Instance`: its folder,
pid file and log), whether its process runs, how it is stopped, and small socket helpers."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ServiceStartError

if TYPE_CHECKING:
    from core.settings import Settings


@dataclass(frozen=True)
class Instance:
    """One service's instance: the folder ``$PROFILEGRAPH_STATE/<name>/`` holding its data,
    pid file and log (paths relative to the folder), written once per service."""

    name: str
    pid_file: str
    log_file: str

    def folder(self, settings: Settings) -> Path:
        return settings.state / self.name

    def pid_path(self, settings: Settings) -> Path:
        return self.folder(settings) / self.pid_file

    def log_path(self, settings: Settings) -> Path:
        return self.folder(settings) / self.log_file

    def running_pid(self, settings: Settings) -> int | None:
        """The instance's process, if it runs (a pid file of a dead process says nothing)."""
        pid = read_pid(self.pid_path(settings))
        return pid if pid_alive(pid) else None

    def stale_pid(self, settings: Settings) -> int | None:
        """The pid file's process where it is dead: the instance ended without a stop."""
        return None if self.running_pid(settings) is not None else read_pid(self.pid_path(settings))

    def wait_started(
        self,
        settings: Settings,
        ready: Callable[[], bool],
        *,
        what: str,
        timeout_s: float,
        log: Path | None = None,
        interval_s: float = 0.5,
    ) -> None:
        """Poll ``ready`` until the just-launched instance answers; fail at once if its process
        died, with the tail of ``log`` (default: the instance's log)."""
        wait_until(
            ready,
            timeout_s=timeout_s,
            what=what,
            alive=lambda: self.running_pid(settings) is not None,
            log=log or self.log_path(settings),
            interval_s=interval_s,
        )

    def terminate(self, settings: Settings, *, what: str, timeout_s: float) -> None:
        """SIGTERM (the service shuts down in order), then SIGKILL after ``timeout_s``."""
        pid = self.running_pid(settings)
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
            wait_until(lambda: not pid_alive(pid), timeout_s=timeout_s, what=what, interval_s=0.1)
        except ProcessLookupError:
            pass
        except ServiceStartError:
            os.kill(pid, signal.SIGKILL)


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
