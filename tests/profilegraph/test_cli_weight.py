"""The CLI imports what a command needs: ingest, consume and query stay light.

Each CLI process held 0.8-1 GB (six parallel ingests ~5.8 GB) because the command module
imported torch, scipy and the engine for every command. Commands that train or export import
them inside themselves.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "scipy", "sklearn", "torch_geometric", "engine.pipeline")
LIGHT_PATHS = (
    "profilegraph.cli",
    "profilegraph.ingest_progress",  # `ingest`, `load lastfm|taobao`
    "graph.stream",  # `consume`
    "graph.kafka_source",
    "graph.analyst",  # `query`
    "jobs.erasure",  # `forget`, and deletes met while ingesting
)


def test_the_cli_and_its_ingest_paths_do_not_import_torch() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for name in {LIGHT_PATHS!r}: importlib.import_module(name)\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout) == []
