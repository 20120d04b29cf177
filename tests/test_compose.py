"""docker-compose.yml: the services users with Docker get, and no secret baked in."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_services_and_images() -> None:
    services = _compose()["services"]
    assert set(services) == {
        "neo4j",
        "redis",
        "worker-cpu",
        "worker-gpu",
        "beat",
        "flower",
        "kafka",
        "kafka-consumer",
    }
    assert services["kafka"]["profiles"] == ["kafka"]  # optional: started only when asked
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    assert "ports" not in services["kafka"]  # inside the compose network only
    assert services["kafka-consumer"]["command"][-2:] == ["--source", "kafka"]
    assert services["flower"]["command"] == ["profilegraph", "flower"]
    assert services["flower"]["ports"] == ["127.0.0.1:5555:5555"]  # loopback on the host
    assert services["neo4j"]["image"] == "neo4j:5.26-community"
    assert "graph-data-science" in services["neo4j"]["environment"]["NEO4J_PLUGINS"]
    assert services["redis"]["image"].startswith("redis:7")
    assert "--requirepass" in services["redis"]["command"]
    gpu = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    assert services["worker-cpu"]["command"][-1] == "cpu"


def test_every_secret_is_required_and_has_no_default() -> None:
    text = COMPOSE.read_text()
    references = re.findall(r"\$\{(\w+)([^}]*)\}", text)
    secrets = [(name, rest) for name, rest in references if "PASSWORD" in name]
    assert secrets, "the passwords must come from the env file"
    for name, rest in secrets:
        assert rest.startswith(":?"), f"${{{name}{rest}}} must be required (:?), not defaulted"
    assert not re.search(r"PASSWORD\w*:[ \t]*[\"']?\w", re.sub(r"\$\{[^}]*\}", "", text))


def _compose_cli() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _compose_cli(), reason="docker compose client not installed here")
def test_docker_compose_config_accepts_it(tmp_path: Path) -> None:
    env = tmp_path / "compose.env"
    env.write_text(
        "NEO4J_PASSWORD=x-test-1\nREDIS_PASSWORD=x-test-2\nFLOWER_PASSWORD=x-test-3\n"
        "KAFKA_PASSWORD=x-test-4\n"
    )
    done = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "--env-file", str(env), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
