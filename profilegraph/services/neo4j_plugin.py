"""Build profilegraph's own server-side procedures and lay out an instance's plugins folder.

The procedures (``graph/plugin/*.java``: the fast edge export, and the analyst guide Neo4j
Browser plays, ``guide.html`` served by an unmanaged extension) are compiled with the JDK's
``javac`` against the assembled server's own jars, once per source version, into
``$PROFILEGRAPH_HOME/plugins/``. Each instance gets a ``plugins/`` folder of links: the GDS jars
of the shared distribution plus that jar, rebuilt at every start so an edit to the Java source
takes effect at the next restart.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import graph
from core.errors import ServiceStartError

SOURCE_DIR = Path(graph.__file__).resolve().parent / "plugin"
GUIDE = SOURCE_DIR / "guide.html"  # the analyst guide the jar serves (graph.browser_guide)


def _digest(distribution: Path) -> str:
    sha = hashlib.sha256(distribution.name.encode())
    for source in sorted([*SOURCE_DIR.glob("*.java"), GUIDE]):
        sha.update(source.name.encode() + source.read_bytes())
    return sha.hexdigest()[:12]


def plugin_jar(home: Path, distribution: Path) -> Path:
    """The compiled procedures jar for this source and server version (built if missing)."""
    jar = home / "plugins" / f"profilegraph-procedures-{_digest(distribution)}.jar"
    if jar.exists():
        return jar
    if shutil.which("javac") is None or shutil.which("jar") is None:
        raise ServiceStartError(
            "building profilegraph's Neo4j procedures needs a JDK (javac): install "
            "`openjdk-17-jdk-headless` (scripts/bootstrap.sh does this)"
        )
    jar.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=jar.parent) as work:
        classes = Path(work) / "classes"
        sources = [str(p) for p in sorted(SOURCE_DIR.glob("*.java"))]
        for cmd in (
            [
                "javac",
                "-nowarn",
                "-cp",
                str(distribution / "lib" / "*"),
                "-d",
                str(classes),
                *sources,
            ],
            ["jar", "cf", str(Path(work) / jar.name), "-C", str(classes), "."],
        ):
            if cmd[0] == "jar":
                (classes / "profilegraph").mkdir(parents=True, exist_ok=True)
                shutil.copy(GUIDE, classes / "profilegraph" / "guide.html")
            done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
            if done.returncode != 0:
                raise ServiceStartError(f"{cmd[0]} failed:\n{done.stdout}\n{done.stderr}")
        (Path(work) / jar.name).rename(jar)
    return jar


def prepare_plugins(folder: Path, home: Path, distribution: Path) -> Path:
    """``folder`` holding links to the distribution's plugin jars and to ours."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for jar in (*sorted((distribution / "plugins").glob("*.jar")), plugin_jar(home, distribution)):
        (folder / jar.name).symlink_to(jar)
    return folder
