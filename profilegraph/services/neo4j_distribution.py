"""Fetch Neo4j Community and OpenGDS from Maven Central and lay them out as a server home.

The result, ``$PROFILEGRAPH_HOME/neo4j-<version>-gds-<version>/`` with ``lib/`` and ``plugins/``,
is immutable and shared by every instance (demo, tests); instances keep their data elsewhere.
A marker file makes a half-finished assembly count as absent, so an interrupted first run
simply starts over. Maven keeps its repository under the same cache, so rebuilding the layout
after deleting it costs no download.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from core.errors import ServiceStartError
from core.settings import Settings
from profilegraph.services.maven import copy_dependencies, require_maven, write_pom

POM_NAME = "neo4j-assembly.pom.xml"
MARKER = ".complete"


def distribution_dir(settings: Settings) -> Path:
    n = settings.neo4j
    return settings.home / f"neo4j-{n.version}-gds-{n.gds_version}-browser-{n.browser_version}"


def ensure_distribution(settings: Settings) -> Path:
    """Return the assembled server home, building it on first use."""
    target = distribution_dir(settings)
    if (target / MARKER).exists():
        return target
    require_maven("Neo4j")
    shutil.rmtree(target, ignore_errors=True)
    work = target.with_name(target.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    pom = write_pom(POM_NAME, work)

    lib, everything = work / "lib", work / "all"
    _copy_dependencies(settings, pom, lib, profile=None)
    _copy_dependencies(settings, pom, everything, profile="gds")
    plugins = work / "plugins"
    plugins.mkdir()
    server_jars = {jar.name for jar in lib.iterdir()}
    for jar in everything.iterdir():
        if jar.name not in server_jars:
            jar.rename(plugins / jar.name)
    shutil.rmtree(everything)
    if not any(p.name.startswith("opengds-extension") for p in plugins.iterdir()):
        raise ServiceStartError(f"GDS assembly in {plugins} lacks opengds-extension")
    (work / MARKER).write_text(
        f"neo4j {settings.neo4j.version}\ngds {settings.neo4j.gds_version}\n"
        f"browser {settings.neo4j.browser_version}\n"
    )
    work.rename(target)
    return target


def _copy_dependencies(settings: Settings, pom: Path, out: Path, profile: str | None) -> None:
    n = settings.neo4j
    copy_dependencies(
        settings,
        pom,
        out,
        {
            "neo4j.version": n.version,
            "gds.version": n.gds_version,
            "browser.version": n.browser_version,
        },
        what=f"Neo4j {n.version} / GDS {n.gds_version}",
        profile=profile,
    )
