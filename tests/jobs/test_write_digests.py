"""A refresh's digests from its result columns: each changes exactly where what the writer would
write changes, and a re-run of the same result through the real writer writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from engine.dimensions.next_steps import NextConfig
from engine.models.next_behaviour import SequenceConfig
from engine.models.train import TrainConfig
from engine.pipeline import PipelineConfig, SavedResult, load_result, run_full, save_result
from graph.client import GraphClient
from graph.datasets.synthetic import SyntheticConfig, generate, synthetic_events, to_snapshot
from graph.source import ingest_events
from graph.writeback import DIGESTS, write_profiles
from jobs.pseudonyms import Pseudonyms, pseudonymise
from jobs.refresh import profile_rows
from jobs.write_digests import ResultDigests
from tests.graph.conftest import wipe


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Pseudonyms]:
    snapshot = to_snapshot(generate(SyntheticConfig(n_users=120, n_items=40, seed=5)))
    mapping = pseudonymise(snapshot, None)
    config = PipelineConfig(
        train=TrainConfig(embedding_dim=8, max_epochs=2, device="cpu", seed=1),
        next=NextConfig(sequence=SequenceConfig(max_epochs=1, device="cpu")),
    )
    folder = tmp_path_factory.mktemp("run")
    save_result(run_full(snapshot, config, run_id="d"), folder / "result.pt")
    return folder / "result.pt", mapping


def _digests(saved: SavedResult) -> list[tuple[str, ...]]:
    return ResultDigests(saved).block(0, len(saved.user_ids))


def _changed(before: list[tuple[str, ...]], after: list[tuple[str, ...]]) -> dict[int, set[str]]:
    return {
        u: {p for p, x, y in zip(DIGESTS, a, b, strict=True) if x != y}
        for u, (a, b) in enumerate(zip(before, after, strict=True))
        if a != b
    }


def test_each_part_changes_where_its_content_does(run: tuple[Path, Pseudonyms]) -> None:
    path, _ = run
    base = _digests(load_result(path))
    assert _digests(load_result(path)) == base  # stable from load to load (no process hash)
    assert len(set(base)) == len(base)  # users differ
    saved = load_result(path)
    c = saved.columns
    c["influence"][3] = c["influence"][3] * (1 + 1e-7)  # below SAME_DIGITS: the same
    c["lifecycle_stage"][4] = "churned" if c["lifecycle_stage"][4] != "churned" else "active"
    slots = c["recommendations"].slots
    slots.score[5, 0] = slots.score[5, 0] + 1.0  # a score: the list, not the item ids
    slots.item[7, [0, 1]] = slots.item[7, [1, 0]]  # two items swap ranks
    items = c["explanation"].items
    first = int(torch.searchsorted(items.row, torch.tensor([9])))
    assert int(items.row[first]) == 9, "user 9 has no item evidence"
    items.thing[first] = (items.thing[first] + 1) % len(items.names)  # another item named
    c["next_category_probabilities"][11] = [p / 2 for p in c["next_category_probabilities"][11]]
    c["embedding"][13] = c["embedding"][13] * (1 + 1e-7)  # below SAME_DIGITS: the same
    c["embedding"][14, 0] = c["embedding"][14, 0] + 1.0
    assert _changed(base, _digests(saved)) == {
        4: {"props"},
        5: {"recommendations"},
        7: {"props", "recommendations"},  # profile_recommendations lists the items in order
        9: {"interests"},
        11: {"props", "next_categories"},  # the probabilities are a field too
        14: {"embedding"},
    }


@pytest.fixture
def shop(graph: GraphClient, run: tuple[Path, Pseudonyms]) -> Iterator[GraphClient]:
    wipe(graph)
    data = generate(SyntheticConfig(n_users=120, n_items=40, seed=5))
    ingest_events(graph, list(synthetic_events(data)), source="test")
    yield graph


def test_a_rerun_of_the_same_result_writes_nothing(
    shop: GraphClient, run: tuple[Path, Pseudonyms]
) -> None:
    path, mapping = run
    candidates, total, _, _ = profile_rows(path, mapping)
    first = write_profiles(shop, "d-1", 1, candidates, batch_size=50)
    assert first.written == total and first.unchanged == 0
    again = write_profiles(shop, "d-2", 2, profile_rows(path, mapping)[0], batch_size=50)
    assert (again.written, again.unchanged) == (0, total)
    # one user's churn risk moves: that user's properties, and nothing else, are written
    data = torch.load(path, weights_only=True)
    data["churn_probability"][0] = 0.987654
    torch.save(data, path.with_name("moved.pt"))
    moved = write_profiles(shop, "d-3", 3, profile_rows(path.with_name("moved.pt"), mapping)[0])
    assert (moved.written, moved.unchanged) == (1, total - 1)
    assert moved.parts == {
        "props": 1,
        "interests": 0,
        "recommendations": 0,
        "next_categories": 0,
        "embedding": 0,
    }
