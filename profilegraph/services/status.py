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
