"""Local services without Docker: Neo4j (+ OpenGDS) from Maven Central, Redis from Debian,
and (optional) Kafka from Maven Central."""

from __future__ import annotations

from core.settings import Settings, load_settings
from graph.client import GraphClient
from graph.schema import apply_schema
from profilegraph.secrets import ensure_local_secrets
from profilegraph.services import kafka_server, neo4j_server, redis_server
from profilegraph.services.status import ServiceStatus

__all__ = ["ServiceStatus", "down", "settings_with_secrets", "status", "up"]


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
    rows = [redis_server.start(settings), neo4j_server.start(settings)]
    with GraphClient(settings.neo4j) as client:
        apply_schema(client)
    if with_kafka or _kafka_set_up(settings):
        rows.append(kafka_server.start(settings))
    return rows


def down(settings: Settings) -> None:
    kafka_server.stop(settings)
    neo4j_server.stop(settings)
    redis_server.stop(settings)


def status(settings: Settings) -> list[ServiceStatus]:
    rows = [redis_server.status(settings), neo4j_server.status(settings)]
    if _kafka_set_up(settings):
        rows.append(kafka_server.status(settings))
    return rows


def _kafka_set_up(settings: Settings) -> bool:
    """Kafka is optional: it counts once this instance has started it (its store exists)."""
    return (kafka_server.instance_dir(settings) / "data" / "meta.properties").exists()
