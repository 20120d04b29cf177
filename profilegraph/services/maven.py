"""Resolve a server's jars from Maven Central (Neo4j, Kafka): Maven and Java checked first, the
artefacts cached in ``$PROFILEGRAPH_HOME/m2`` so that a rebuilt layout downloads nothing."""

from __future__ import annotations

import shutil
import subprocess
from importlib import resources
from pathlib import Path

from core.errors import ServiceStartError
from core.settings import Settings


def require_maven(what: str) -> None:
    if shutil.which("mvn") is None or shutil.which("java") is None:
        raise ServiceStartError(
            f"{what} is assembled with Maven and runs on Java 17: install `maven` and "
            "`openjdk-17-jre-headless` (scripts/bootstrap.sh does this)."
        )


def write_pom(pom_name: str, folder: Path) -> Path:
    """Copy a packaged assembly pom (profilegraph/services/*.pom.xml) into ``folder``."""
    pom = folder / pom_name
    pom.write_text(resources.files("profilegraph.services").joinpath(pom_name).read_text())
    return pom


def copy_dependencies(
    settings: Settings,
    pom: Path,
    out: Path,
    properties: dict[str, str],
    *,
    what: str,
    profile: str | None = None,
) -> None:
    """The pom's runtime dependencies, checksums verified, into ``out``."""
    cmd = [
        "mvn",
        "-B",
        "-q",
        "--strict-checksums",
        "-f",
        str(pom),
        f"-Dmaven.repo.local={settings.home / 'm2'}",
        *(f"-D{key}={value}" for key, value in properties.items()),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={out}",
        "-DincludeScope=runtime",
    ]
    if profile:
        cmd.insert(1, f"-P{profile}")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ServiceStartError(
            f"Maven could not resolve {what} from Maven Central:\n"
            + (done.stdout + done.stderr)[-3000:]
        )
