"""The built wheel works on its own: installed into a fresh virtualenv (no editable install,
no source tree on the path), its ``profilegraph`` command runs an analyst query against the
test server, so the ``cypher/`` files and other package data travel with it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_installs_and_runs_a_query(settings: Settings, tmp_path: Path) -> None:
    # build from a copy of the checkout's files (setuptools writes build/ into the source tree)
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    source = tmp_path / "source"
    for name in files:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(source),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
        timeout=300,
    )
    wheel = next(wheels.glob("profilegraph-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # the dependencies (torch, neo4j, ...) come from this environment's site-packages through a
    # .pth line; .pth files inside it (the editable install's) are not processed that way
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # a PYTHONPATH naming a checkout would make pip see the package as installed already
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
        env=env,
    )
    where = subprocess.run(
        [python, "-c", "import graph.queries as q; print(q.CYPHER_DIR)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    ).stdout.strip()
    assert where.startswith(site), where  # the installed copy, not the source tree
    done = subprocess.run(
        [
            venv / "bin" / "profilegraph",
            "query",
            "run_history",  # its parameters' defaults come from the installed file
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
