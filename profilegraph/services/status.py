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
