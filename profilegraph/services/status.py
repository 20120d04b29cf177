"""What ``services status`` reports for one service."""

from __future__ import annotations

from pydantic import BaseModel


class ServiceStatus(BaseModel):
    name: str
    running: bool
    pid: int | None = None
    address: str
    version: str | None = None
    detail: str = ""
    died: bool = False  # its pid file names a process that is gone: it ended without a stop


def died_detail(name: str, pid: int | None) -> str:
    return (
        f"{name} (pid {pid}) ended without being stopped: read `profilegraph services logs`, "
        "then `profilegraph services status --restart` (or `services up`)"
    )


def process_status(
    name: str,
    label: str,
    address: str,
    *,
    pid: int | None,
    stale: int | None,
    ended_unasked: bool = False,
) -> ServiceStatus:
    """The status every local service reports from its process: running (``pid``), died
    (its pid file names a process that is gone, ``stale``; or it exited in order though nobody
    stopped it, ``ended_unasked``) or stopped. The version is the service's to probe."""
    result = ServiceStatus(name=name, running=pid is not None, pid=pid, address=address)
    if pid is None and stale is not None:
        result.died, result.pid, result.detail = True, stale, died_detail(label, stale)
    elif pid is None and ended_unasked:
        result.died, result.detail = True, died_detail(label, None)
    return result
