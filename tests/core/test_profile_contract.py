"""The profile contract (core.profile_contract) against the engine and the Cypher that writes
and reads profiles: a field renamed or added in one place only fails here."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from core.profile_contract import (
    COLUMNS,
    FIELD_EDGES,
    FIELDS,
    STRUCTURE_COLUMNS,
    FieldEdges,
    property_names,
)
from engine.dimensions.columns import FieldColumns
from engine.dimensions.profile import Profiles
from engine.models.train import TrainConfig
from engine.pipeline import PipelineConfig, load_result, run_full, save_result
from graph.datasets.synthetic import SyntheticConfig, generate, to_snapshot
from graph.queries import CYPHER_DIR
from jobs.pseudonyms import pseudonymise
from jobs.result_profiles import result_profiles

# a property access (u.profile_x) or a quoted property name ('profile_x'), outside comments
PROPERTY = re.compile(r"(?<=[.'])profile_[a-z_]+\b")


def _code(path: Path) -> str:
    return "\n".join(line.split("//")[0] for line in path.read_text().splitlines())


def test_every_profile_property_in_the_cypher_files_is_declared() -> None:
    declared = property_names()
    used = {
        (path.name, name)
        for path in CYPHER_DIR.glob("*.cypher")
        for name in PROPERTY.findall(_code(path))
    }
    assert used, "no query reads or writes profiles: the pattern is wrong"
    undeclared = sorted((file, name) for file, name in used if name not in declared)
    assert not undeclared, f"profile properties not in core/profile_contract.py: {undeclared}"


def _writes_edges(code: str, edges: FieldEdges, row: str) -> bool:
    """Whether the Cypher creates the declared edges from ``row``'s entries: to the node keyed
    by the entry's key, with the rank and the value property."""
    target = rf"\(\w+:{edges.label} \{{{edges.key}: (\w+)\.{edges.key}\}}\)"
    create = (
        rf"CREATE \(u\)-\[:{edges.rel_type} \{{rank: (\w+)\.rank, "
        rf"{edges.value_property}: (\w+)\.{edges.value_property},"
    )
    flat = " ".join(code.split())
    found = re.search(rf"UNWIND [^{{}}]*?{re.escape(row)}\b[^{{}}]*? AS (\w+)", flat)
    return bool(found and re.search(target, flat) and re.search(create, flat))


def test_the_cypher_writers_write_every_declared_field_edge() -> None:
    """The server-side procedure takes the declarations with each batch (graph.writeback); the
    Cypher writers spell them out: a field edge declared but not written there fails here."""
    assert FIELD_EDGES, "no field implies edges: the check reads nothing"
    refresh = _code(CYPHER_DIR / "write_profiles.cypher")
    online = _code(CYPHER_DIR / "write_online_profile.cypher")
    for edges in FIELD_EDGES:
        assert _writes_edges(refresh, edges, f"row.{edges.field}"), edges
        if edges.online:
            assert _writes_edges(online, edges, "row.next"), edges
    moved = FieldEdges("next_categories", "NEXT_THING", "Category", "name", "x", "probability")
    assert not _writes_edges(refresh, moved, "row.next_categories")  # the check can fail


def test_profiles_hold_the_structure_and_take_fields_only_from_the_contract() -> None:
    structure = {f.name for f in dataclasses.fields(Profiles)}
    assert set(STRUCTURE_COLUMNS) <= structure, set(STRUCTURE_COLUMNS) - structure
    assert not structure & {f.name for f in FIELDS}, "a field restated outside the contract"
    assert len({f.name for f in FIELDS}) == len(FIELDS), "a field is declared twice"
    with pytest.raises(ValueError, match=r"\['clv_typo'\] are not fields"):
        FieldColumns({"clv": [1.0], "clv_typo": [2.0]})


def test_a_run_result_becomes_rows_with_every_field_typed(tmp_path: Path) -> None:
    snapshot = to_snapshot(generate(SyntheticConfig(n_users=120, n_items=40, seed=5)))
    pseudonyms = pseudonymise(snapshot, None)
    config = PipelineConfig(train=TrainConfig(embedding_dim=8, max_epochs=2, device="cpu"))
    path = save_result(run_full(snapshot, config, run_id="contract"), tmp_path / "result.pt")
    assert set(load_result(path).columns) == set(COLUMNS)
    blocks, total, _, _ = result_profiles(path, pseudonyms, batch_size=50)
    # the profiles the writer makes when it must, as the Cypher writer's rows
    rows = [row for block in blocks for row in block.make(list(range(len(block.user_ids)))).rows()]
    assert len(rows) == total == 120
    python = {
        "float": float,
        "int": int,
        "time": int,
        "str": str,
        "bool": bool,
        "list[str]": list,
        "list[float]": list,
    }
    for row in rows:
        assert set(row.fields) == {f.name for f in FIELDS}
        for field in FIELDS:
            value = row.fields[field.name]
            assert value is None or type(value) is python[field.kind], (field.name, value)
    # last_active is each user's latest timestamped action in the snapshot (plain Python here)
    latest: dict[int, int] = {}
    for (src, _, dst), edges in snapshot.edges.items():
        if src == "user" and dst == "item":
            for user, ts in zip(edges.src.tolist(), edges.ts.tolist(), strict=True):
                if ts >= 0:
                    latest[user] = max(ts, latest.get(user, ts))
    assert latest, "the synthetic shop has no timestamps: the check would be empty"
    by_user = {row.user_id: row.fields["last_active"] for row in rows}
    for i, pseudonym in enumerate(snapshot.node_ids["user"]):
        user = pseudonyms.resolve("user", pseudonym)
        assert user is not None and user != pseudonym
        assert by_user[user] == latest.get(i), user
