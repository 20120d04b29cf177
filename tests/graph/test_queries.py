"""Every query file is well-formed and used; every name the code loads has a file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.errors import ConfigError
from graph.queries import CYPHER_DIR, load_query, query_names

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    p
    for pkg in ("core", "graph", "engine", "jobs", "workers", "profilegraph", "bench")
    for p in (ROOT / pkg).rglob("*.py")
]
CALL = re.compile(r"\.(?:read|write|write_rows|stream|run|run_statements)\(\s*\"([a-z_0-9]+)\"")
LITERAL = re.compile(r"\"([a-z][a-z_0-9]*)\"")


@pytest.mark.parametrize("name", query_names())
def test_each_file_has_a_header(name: str) -> None:
    query = load_query(name)
    assert {"purpose", "mode", "params", "returns"} <= set(query.header), name


def test_every_file_is_referenced_and_every_reference_has_a_file() -> None:
    code = "\n".join(p.read_text() for p in SOURCES)
    called = set(CALL.findall(code))
    assert called - set(query_names()) == set(), "code loads queries that have no file"
    mentioned = set(LITERAL.findall(code))
    analyst = {name for name in query_names() if load_query(name).header.get("analyst") == "yes"}
    # Analyst queries are run by name through `profilegraph query`; the rest must be used.
    assert set(query_names()) - mentioned - analyst == set(), f"unused files in {CYPHER_DIR}"


def test_unknown_name_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="no query named 'nope'"):
        load_query("nope")


def test_schema_statements_are_idempotent_ddl() -> None:
    statements = load_query("schema").statements()
    assert len(statements) >= 5
    assert all("IF NOT EXISTS" in s for s in statements)


def test_export_type_list_matches_the_allow_list() -> None:
    """export_interactions.cypher spells out the interaction types; they must be REL_TYPES'."""
    from core.vocabulary import REL_TYPES, InteractionKind

    text = load_query("export_interactions").text
    listed = set(re.search(r"\[r:([A-Z_|]+)\]", text).group(1).split("|"))  # type: ignore[union-attr]
    assert listed == {rel for kind, rel in REL_TYPES.items() if kind is not InteractionKind.TAG}


@pytest.mark.parametrize("name", ["export_actions", "online_customer_history", "online_sequences"])
def test_action_readers_list_every_interaction_type(name: str) -> None:
    """export_actions.cypher reads the order of every kind, tags included; the online path's
    "latest action" reads every kind too."""
    from core.vocabulary import REL_TYPES

    text = load_query(name).text
    listed = set(re.search(r"\[r:([A-Z_|]+)\]", text).group(1).split("|"))  # type: ignore[union-attr]
    assert listed == set(REL_TYPES.values())
