"""Settings: environment wins over the local env file, secrets stay masked, typos are errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.settings import Settings, load_settings
from profilegraph.secrets import ensure_local_secrets, read_env_file


def test_generated_secrets_are_private_and_stable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROFILEGRAPH_NEO4J__PASSWORD", raising=False)
    monkeypatch.delenv("PROFILEGRAPH_NEO4J__ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("PROFILEGRAPH_REDIS__PASSWORD", raising=False)
    monkeypatch.delenv("PROFILEGRAPH_FLOWER__PASSWORD", raising=False)
    monkeypatch.delenv("PROFILEGRAPH_KAFKA__PASSWORD", raising=False)
    path = ensure_local_secrets(tmp_path)
    first = read_env_file(path)
    assert set(first) == {
        "PROFILEGRAPH_NEO4J__PASSWORD",
        "PROFILEGRAPH_NEO4J__ADMIN_PASSWORD",
        "PROFILEGRAPH_REDIS__PASSWORD",
        "PROFILEGRAPH_FLOWER__PASSWORD",
        "PROFILEGRAPH_KAFKA__PASSWORD",
    }
    assert first["PROFILEGRAPH_NEO4J__ADMIN_PASSWORD"] != first["PROFILEGRAPH_NEO4J__PASSWORD"]
    assert len(first["PROFILEGRAPH_NEO4J__PASSWORD"]) >= 24
    assert path.stat().st_mode & 0o777 == 0o600
    ensure_local_secrets(tmp_path)
    assert read_env_file(path) == first


def test_environment_wins_over_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROFILEGRAPH_STATE", str(tmp_path))
    monkeypatch.delenv("PROFILEGRAPH_NEO4J__PASSWORD", raising=False)
    ensure_local_secrets(tmp_path)
    from_file = read_env_file(tmp_path / "profilegraph.env")["PROFILEGRAPH_NEO4J__PASSWORD"]
    assert load_settings().neo4j.password.get_secret_value() == from_file  # type: ignore[union-attr]
    monkeypatch.setenv("PROFILEGRAPH_NEO4J__PASSWORD", "from-the-environment")
    assert load_settings().neo4j.password.get_secret_value() == "from-the-environment"  # type: ignore[union-attr]


def test_repr_masks_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROFILEGRAPH_REDIS__PASSWORD", "hunter2-secret")
    settings = load_settings()
    assert "hunter2-secret" not in repr(settings)
    assert "hunter2-secret" not in settings.redis.url(masked=True)
    assert "hunter2-secret" in settings.redis.url()


def test_unknown_keys_are_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROFILEGRAPH_NEO4J__BOLT_PROT", "1234")
    with pytest.raises(ValidationError, match="bolt_prot"):
        Settings()


def test_out_of_range_port_names_field_and_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROFILEGRAPH_REDIS__PORT", "70000")
    with pytest.raises(ValidationError, match=r"redis\.port[\s\S]*70000"):
        Settings()
