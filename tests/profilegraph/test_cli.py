"""The CLI in-process: exit codes and the lines a user reads."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from profilegraph.cli import app
from profilegraph.settings import Settings

runner = CliRunner()


def test_services_status_shows_both_running(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["services", "status"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "running" in line]
    assert any("redis" in line for line in lines) and any("neo4j" in line for line in lines)
    assert "GDS 2.13" in result.output


def test_schema_apply_is_idempotent(settings: Settings) -> None:
    first = runner.invoke(app, ["schema", "apply"])
    second = runner.invoke(app, ["schema", "apply"])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert "0 constraints, 0 indexes added" in second.output


def test_library_errors_exit_1_with_name_and_message(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    monkeypatch.setenv("PROFILEGRAPH_NEO4J__PASSWORD", "wrong-password-here")
    done = subprocess.run(
        [sys.executable, "-m", "profilegraph", "schema", "apply"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "AuthenticationFailed:" in done.stdout
    assert "wrong-password-here" not in done.stdout + done.stderr
