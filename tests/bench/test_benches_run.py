"""Every bench runs, at a tiny size, as its README command would: a bench that no longer runs
fails here, not in the next session that needs its figures.

Benches that load data into Neo4j use the test session's services (``bench_services`` keeps
the environment's instance when one is set, as it is here). Each writes its JSON under
``tmp_path``; the figures are not checked (tiny sizes say nothing), only that the bench ran to
the end and wrote a table. ``bench.snapshots`` is the one command left out: it is not a bench
but the data preparation of the others (loading each whole data set takes minutes); its
loaders run in ``tests/graph/test_lastfm.py``, ``test_taobao.py`` and ``test_cdnow.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import Settings

ENGINE_ONLY = {
    "device_parity": ["--users", "300"],
    "interests": ["--synthetic", "400", "--splits", "0.8"],
    "evaluation": ["--synthetic", "300"],
    "pipeline": ["--sizes", "400", "--epochs", "1", "--device", "cpu"],
    "pseudonymity": ["--synthetic", "250", "--epochs", "1"],
    "train": ["--sizes", "500", "--steps", "2", "--device", "cpu"],
    "next_behaviour": ["--synthetic", "400", "--cuts", "0.8", "--seeds", "1", "--epochs", "1"],
    "value": ["--synthetic", "400", "--seeds", "1", "--no-taobao"],
    "sentiment": ["--limit", "400", "--seeds", "0"],
    "review_churn": ["--limit", "500", "--sets", "amazon-fashion"],
    "warm_start": ["--synthetic", "300", "--seeds", "0", "--max-epochs", "3", "--changed", "0.1"],
    "same_profiles": ["--synthetic", "300", "--epochs", "1"],
}
WITH_SERVICES = {
    "influence": ["--sizes", "500"],
    "graph_io": ["--sizes", "500"],
    # under 8,000 profiles its batches came out empty and it crashed
    "writeback": ["--users", "500", "--profiles", "300", "--queries", "3"],
    "dp_aggregates": ["--synthetic", "500", "--draws", "5", "--top", "2", "--epochs", "1"],
    "vector_index": ["--vectors", "500"],
    "ingest": [
        *("--users", "500", "--writers", "1", "--events", "500", "--rate", "200"),
        *("--seconds", "2", "--sources", "file", "redis"),
    ],
    "ingest_costs": ["--users", "500", "--writers", "1", "--batches", "1"],
    "online": ["--users", "500", "--rates", "200", "--seconds", "3", "--ingest-events", "500"],
    "refresh": ["--sizes", "500", "--epochs", "1"],
    "scale": ["--sizes", "500", "--epochs", "1"],
    "same_written": ["--synthetic", "150", "--epochs", "1"],
}


def _run(name: str, args: list[str], out: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PROFILEGRAPH_TRAINING__DEVICE": "cpu"},
        check=False,
    )
    assert done.returncode == 0, f"bench.{name} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    written = out if out.suffix == ".json" else next(out.glob("*.json"))
    table = json.loads(written.read_text())
    assert table, f"bench.{name} wrote an empty table"
    return table


@pytest.mark.parametrize("name", sorted(ENGINE_ONLY))
def test_an_engine_bench_runs_at_a_tiny_size(name: str, tmp_path: Path) -> None:
    out = tmp_path / ("out" if name in ("next_behaviour", "value") else f"{name}.json")
    _run(name, ENGINE_ONLY[name], out)


@pytest.mark.parametrize("name", sorted(WITH_SERVICES))
def test_a_service_bench_runs_at_a_tiny_size(name: str, tmp_path: Path, settings: Settings) -> None:
    _run(name, WITH_SERVICES[name], tmp_path / f"{name}.json")


def test_item_ranking_runs_on_a_snapshot_file(tmp_path: Path) -> None:
    from graph.datasets.synthetic import SyntheticConfig, generate, to_snapshot

    snapshot = to_snapshot(generate(SyntheticConfig(n_users=300, n_items=100, seed=1)))
    path = snapshot.save(tmp_path / "synthetic.pt")
    args = ["--snapshot", str(path), "--relation", "PURCHASED", "VIEWED", "--seeds", "0"]
    _run("item_ranking", [*args, "--epochs", "2", "--models", "lightgcn"], tmp_path / "ir.json")
