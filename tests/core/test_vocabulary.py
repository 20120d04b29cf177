"""The graph vocabulary is written once (core/vocabulary.py): a relationship type spelt out as
a string anywhere else in the Python code fails here, so a new interaction kind or a renamed
type touches one file (and the Cypher files that match it, which tests/graph/test_queries.py
checks)."""

from __future__ import annotations

import ast
from pathlib import Path

from core.vocabulary import ALL_TYPES, REL_TYPES, InteractionKind

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "graph", "engine", "jobs", "workers", "profilegraph", "bench")


def _spelt_out() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "core" / "vocabulary.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and node.value in ALL_TYPES:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    return found


def test_no_relationship_type_is_spelt_out_outside_the_vocabulary() -> None:
    assert _spelt_out() == []


def test_every_interaction_kind_has_one_relationship_type() -> None:
    assert set(REL_TYPES) == set(InteractionKind)
    assert len(set(REL_TYPES.values())) == len(REL_TYPES)
