"""The CLI in-process: exit codes and the lines a user reads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.settings import Settings
from profilegraph.cli import app
from profilegraph.secrets import ENV_FILE_NAME

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


def test_any_command_on_a_fresh_machine_first_generates_the_local_passwords(
    tmp_path: Path,
) -> None:
    """Workers, beat, the demo and every client share the generated local passwords: the CLI's
    entry point generates them before any command runs (here one that needs no service)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROFILEGRAPH_")}
    env["PROFILEGRAPH_STATE"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", "from profilegraph.cli import main; main()", "query"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    generated = (tmp_path / ENV_FILE_NAME).read_text()
    assert "PROFILEGRAPH_REDIS__PASSWORD=" in generated
