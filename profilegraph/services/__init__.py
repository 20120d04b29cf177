"""Local services without Docker: Neo4j (+ OpenGDS) from Maven Central, Redis from Debian,
and (optional) Kafka from Maven Central."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from core.settings import Settings, load_settings
from graph.client import GraphClient
from graph.schema import apply_schema
from profilegraph.secrets import ensure_local_secrets
from profilegraph.services import kafka_server, neo4j_server, redis_server
from profilegraph.services.status import ServiceStatus

__all__ = ["SERVICES", "Service", "ServiceStatus", "down", "settings_with_secrets", "status", "up"]


class Service(Protocol):
    """What every local service module provides (``redis_server``, ``neo4j_server``,
    ``kafka_server``): start (idempotent: a running instance is left alone), stop, status (a
    service that ended without a stop reports *died*) and where its log is."""

    def start(self, settings: Settings) -> ServiceStatus: ...
    def stop(self, settings: Settings) -> None: ...
    def status(self, settings: Settings) -> ServiceStatus: ...
    def log_path(self, settings: Settings) -> Path: ...


# in start order (stop goes the other way); Kafka is optional (see _in_use)
SERVICES: dict[str, Service] = {
    "redis": redis_server,
    "neo4j": neo4j_server,
    "kafka": kafka_server,
}


def settings_with_secrets() -> Settings:
    """Settings from the environment after generating any missing local password.

    Secrets are written before anything starts, so every later process that reads the same
    state dir (workers, beat, tests) sees the same passwords.
    """
    ensure_local_secrets(load_settings().state)
    return load_settings()


def up(settings: Settings, *, with_kafka: bool = False) -> list[ServiceStatus]:
    """Start Redis and Neo4j (and Kafka when asked, or when this instance has used it) and
    apply the schema; services already running are left alone (idempotent)."""
    rows = []
    for name, service in SERVICES.items():
        if name == "kafka" and not (with_kafka or _kafka_set_up(settings)):
            continue
        rows.append(service.start(settings))
        if name == "neo4j":
            with GraphClient(settings.neo4j) as client:
                apply_schema(client)
    return rows


def down(settings: Settings) -> None:
    for service in reversed(SERVICES.values()):
        service.stop(settings)


def status(settings: Settings) -> list[ServiceStatus]:
    return [
        service.status(settings)
        for name, service in SERVICES.items()
        if name != "kafka" or _kafka_set_up(settings)
    ]


def _kafka_set_up(settings: Settings) -> bool:
    """Kafka is optional: it counts once this instance has started it (its store exists)."""
    return (kafka_server.instance_dir(settings) / "data" / "meta.properties").exists()
