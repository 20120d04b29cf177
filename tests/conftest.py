"""Test-session services: a real Neo4j + GDS and a real Redis (and, for the tests that ask for
it, a real Kafka broker), started here, never mocked.

The session uses its own state dir and ports (17687/17474/16379), so it neither disturbs nor
depends on a demo instance on the default ports. The Neo4j distribution comes from the shared
cache (~/.cache/profilegraph), downloaded on first use.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from graph.client import GraphClient
from profilegraph import services

# PROFILEGRAPH_TEST_PORT_OFFSET moves every test port, so two suites can run side by side.
PORT_OFFSET = int(os.environ.get("PROFILEGRAPH_TEST_PORT_OFFSET", "0"))
TEST_ENV = {
    "PROFILEGRAPH_NEO4J__BOLT_PORT": str(17687 + PORT_OFFSET),
    "PROFILEGRAPH_NEO4J__HTTP_PORT": str(17474 + PORT_OFFSET),
    "PROFILEGRAPH_NEO4J__HEAP": "2g",
    "PROFILEGRAPH_NEO4J__PAGECACHE": "1g",
    "PROFILEGRAPH_REDIS__PORT": str(16379 + PORT_OFFSET),
    "PROFILEGRAPH_FLOWER__PORT": str(15555 + PORT_OFFSET),
    "PROFILEGRAPH_KAFKA__PORT": str(19092 + PORT_OFFSET),  # and the controller on + 1
}
# a second instance of its own, for the lifecycle tests
OWN_PORTS = {"bolt": 27687 + PORT_OFFSET, "http": 27474 + PORT_OFFSET, "redis": 26379 + PORT_OFFSET}


@pytest.fixture(scope="session")
def service_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point every settings read in this session (and child processes) at the test instance."""
    state = tmp_path_factory.mktemp("state")
    with pytest.MonkeyPatch.context() as mp:
        for key in [
            k
            for k in os.environ
            if k.startswith("PROFILEGRAPH_")
            and k not in ("PROFILEGRAPH_HOME", "PROFILEGRAPH_TEST_PORT_OFFSET")
        ]:
            mp.delenv(key)
        mp.setenv("PROFILEGRAPH_STATE", str(state))
        for key, value in TEST_ENV.items():
            mp.setenv(key, value)
        yield state


@pytest.fixture(scope="session")
def settings(service_env: Path) -> Iterator[Settings]:
    """Running services for the whole session; stopped at the end."""
    loaded = services.settings_with_secrets()
    services.up(loaded)
    yield loaded
    services.down(loaded)


@pytest.fixture(scope="session")
def kafka(settings: Settings) -> Settings:
    """A real Kafka broker (KRaft) for the tests that need one; stopped with the rest."""
    from profilegraph.services import kafka_server

    kafka_server.start(settings)
    return settings


@pytest.fixture
def graph(settings: Settings) -> Iterator[GraphClient]:
    with GraphClient(settings.neo4j) as client:
        yield client
