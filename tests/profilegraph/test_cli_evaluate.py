"""`profilegraph evaluate` on a snapshot file (no services needed)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from typer.testing import CliRunner

from engine.snapshot import EdgeSet, Snapshot
from profilegraph.cli import app


def _snapshot(path: Path) -> Path:
    users, items = [], []
    for u in range(30):
        for i in range(8):
            users.append(u)
            items.append((u % 3) * 8 + i)
    n = len(users)
    listened = EdgeSet(src=torch.tensor(users), dst=torch.tensor(items), weight=torch.ones(n),
                       ts=torch.full((n,), -1), count=torch.ones(n, dtype=torch.long))  # fmt: skip
    snap = Snapshot(
        node_ids={"user": [f"u{k}" for k in range(30)], "item": [f"i{k}" for k in range(24)],
                  "category": []},
        edges={("user", "LISTENED", "item"): listened}, watermark=1, taken_at=0.0, selection={},
    )  # fmt: skip
    return snap.save(path)


def test_evaluate_writes_markdown_and_json(tmp_path: Path) -> None:
    snapshot = _snapshot(tmp_path / "s.pt")
    result = CliRunner().invoke(app, [
        "evaluate", "--snapshot", str(snapshot), "--seed", "0", "--seed", "1", "--epochs", "4",
        "--eval-every", "2", "--out", str(tmp_path / "eval"),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "eval" / "item_ranking.json").read_text())
    assert {r["model"] for r in data["rows"]} == {"popularity", "lightgcn", "lightgcn+social"}
    assert "| popularity |" in (tmp_path / "eval" / "item_ranking.md").read_text()
