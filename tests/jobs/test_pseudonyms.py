"""Pseudonymous snapshots: no id leaves the cpu side, and the figures do not change."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from engine.dimensions.next_steps import NextConfig
from engine.models.next_behaviour import SequenceConfig
from engine.models.train import TrainConfig
from engine.pipeline import PipelineConfig, run_full, save_result
from engine.snapshot import Snapshot
from graph.datasets.synthetic import SyntheticConfig, generate, to_snapshot
from jobs.pseudonyms import FILE, Pseudonyms, forget_everywhere, pseudonymise


def _shop(seed: int = 3) -> Snapshot:
    snapshot = to_snapshot(generate(SyntheticConfig(n_users=150, n_items=50, seed=seed)))
    # ids nothing else in a file could contain by chance
    snapshot.node_ids["user"] = [f"shopper-{i:04d}-zq" for i in range(snapshot.num_nodes("user"))]
    snapshot.node_ids["item"] = [f"sku-{i:04d}-xv" for i in range(snapshot.num_nodes("item"))]
    return snapshot


def _config() -> PipelineConfig:
    return PipelineConfig(
        train=TrainConfig(embedding_dim=8, max_epochs=3, device="cpu", seed=1),
        next=NextConfig(sequence=SequenceConfig(max_epochs=2, device="cpu")),
    )


def test_snapshot_state_and_result_name_no_one(tmp_path: Path) -> None:
    snapshot = _shop()
    users, items = list(snapshot.node_ids["user"]), list(snapshot.node_ids["item"])
    mapping = pseudonymise(snapshot, None)
    run = tmp_path / "run"
    run.mkdir()
    mapping.save(run)
    snapshot.save(run / "snapshot.pt")
    result = run_full(Snapshot.load(run / "snapshot.pt"), _config(), run_id="p")
    save_result(result, run / "result.pt")
    assert result.state is not None
    result.state.save(run / "state.pt")
    for name in ("snapshot.pt", "result.pt", "state.pt"):
        data = (run / name).read_bytes()
        found = [i for i in users + items if i.encode() in data]
        assert not found, f"{name} holds ids {found[:5]}"
    # the scan can find them: the mapping (which stays on the cpu side) holds every one
    kept = (run / FILE).read_bytes()
    assert all(i.encode() in kept for i in users + items)
    assert (run / FILE).stat().st_mode & 0o777 == 0o600
    # explanations and lists name friends and items by pseudonym, which resolve to the ids
    named = [
        mapping.resolve("item", slot["item_id"])
        for slots in result.profiles.recommendations
        for slot in slots
    ]
    assert named and all(n in items for n in named)


def test_pseudonyms_carry_over_and_newcomers_get_fresh_numbers() -> None:
    first = _shop()
    before = list(first.node_ids["user"])
    mapping = pseudonymise(first, None)
    assert first.node_ids["user"] == [f"#u{i}" for i in range(len(before))]  # = the indices
    second = _shop()
    second.node_ids["user"] = [*before[10:], "newcomer-zq"]  # ten gone, one new
    second.node_ids["item"] = second.node_ids["item"][:40]
    later = pseudonymise(second, mapping)
    assert second.node_ids["user"][:5] == first.node_ids["user"][10:15]
    assert second.node_ids["user"][-1] == f"#u{len(before)}"  # never a reused number
    assert later.resolve("user", f"#u{len(before)}") == "newcomer-zq"
    assert later.resolve("user", "#u0") is None  # gone from this run's mapping


def test_forgetting_removes_a_user_from_every_kept_mapping(tmp_path: Path) -> None:
    for run in ("full-a", "incremental-b"):
        folder = tmp_path / run
        folder.mkdir()
        pseudonymise(_shop(), None).save(folder)
    assert forget_everywhere(tmp_path, {"shopper-0007-zq"}) == 2
    for run in ("full-a", "incremental-b"):
        assert b"shopper-0007-zq" not in (tmp_path / run / FILE).read_bytes()
        mapping = Pseudonyms.load(tmp_path / run)
        assert mapping is not None and mapping.resolve("user", "#u7") is None
        assert mapping.resolve("user", "#u8") == "shopper-0008-zq"


def test_the_profiles_are_the_same_with_pseudonyms() -> None:
    """Same seed, same snapshot but for the names: identical figures (the engine never read
    the ids)."""
    plain = _shop()
    hidden = copy.deepcopy(plain)
    mapping = pseudonymise(hidden, None)
    a = run_full(plain, _config(), run_id="a")
    b = run_full(hidden, _config(), run_id="b")
    assert torch.equal(a.profiles.embedding, b.profiles.embedding)
    assert torch.equal(a.profiles.influence, b.profiles.influence)
    assert a.profiles.interests == b.profiles.interests
    assert torch.equal(a.profiles.segment, b.profiles.segment)
    assert a.metrics["valid"] == b.metrics["valid"]
    timing = {"seconds", "sequences_per_s"}
    assert {k: v for k, v in a.metrics["next"].items() if k not in timing} == {
        k: v for k, v in b.metrics["next"].items() if k not in timing
    }
    resolved = [
        [mapping.resolve("item", slot["item_id"]) for slot in slots]
        for slots in b.profiles.recommendations
    ]
    assert resolved == [[slot["item_id"] for slot in slots] for slots in a.profiles.recommendations]
