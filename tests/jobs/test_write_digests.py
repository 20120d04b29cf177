"""A refresh's digests from its result columns: each changes exactly where what the writer would
write changes, and a re-run of the same result through the real writer writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from bench.same_written import dump
from engine.dimensions.next_steps import NextConfig
from engine.models.next_behaviour import SequenceConfig
from engine.models.train import TrainConfig
from engine.pipeline import PipelineConfig, SavedResult, load_result, run_full, save_result
from graph.client import GraphClient
from graph.datasets.synthetic import SyntheticConfig, generate, synthetic_events, to_snapshot
from graph.source import ingest_events
from graph.writeback import DIGESTS, WRITE_PROCEDURE, write_profiles
from jobs.pseudonyms import Pseudonyms, pseudonymise
from jobs.result_profiles import result_profiles
from jobs.write_digests import ResultDigests, column_codes
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


def test_a_column_code_tells_apart_what_the_digest_must() -> None:
    """A code per user and column: equal exactly where the written values would be the same
    to the digest (floats to SAME_DIGITS), whatever mix of None, text, numbers and lists."""
    same, other = (0, 1), (0, 2)

    def pairs(values: list[Any], kind: str) -> tuple[bool, ...]:
        codes = column_codes(values, kind)
        return tuple(bool(codes[a] == codes[b]) for a, b in (same, other))

    assert pairs([0.123412, 0.123414, 0.1236], "float") == (True, False)
    assert pairs([None, None, 0.0], "float") == (True, False)
    assert pairs(["a", "a", ""], "str") == (True, False)
    assert pairs([None, None, ""], "str") == (True, False)
    assert pairs([3, 3, None], "int") == (True, False)
    assert pairs([["a", "b"], ["a", "b"], ["b", "a"]], "list[str]") == (True, False)
    assert pairs([[], [], None], "list[str]") == (True, False)
    assert pairs([[0.5], [0.50001], [0.5, 0.5]], "list[float]") == (True, False)
    assert pairs([[None, "a"], [None, "a"], ["a", None]], "list[str]") == (True, False)
    assert (column_codes([None] * 4, "str") == column_codes([None] * 4, "float")).all()


def _reset(client: GraphClient) -> None:
    wipe(client)
    data = generate(SyntheticConfig(n_users=120, n_items=40, seed=5))
    ingest_events(client, list(synthetic_events(data)), source="test")


@pytest.fixture
def shop(graph: GraphClient, run: tuple[Path, Pseudonyms]) -> Iterator[GraphClient]:
    _reset(graph)
    yield graph


def test_a_rerun_of_the_same_result_writes_nothing(
    shop: GraphClient, run: tuple[Path, Pseudonyms]
) -> None:
    path, mapping = run
    candidates, total, _, _ = result_profiles(path, mapping)
    first = write_profiles(shop, "d-1", 1, candidates, batch_size=50)
    assert first.written == total and first.unchanged == 0
    again = write_profiles(shop, "d-2", 2, result_profiles(path, mapping)[0], batch_size=50)
    assert (again.written, again.unchanged) == (0, total)
    # one user's churn risk moves: that user's properties, and nothing else, are written
    data = torch.load(path, weights_only=True)
    data["churn_probability"][0] = 0.987654
    torch.save(data, path.with_name("moved.pt"))
    moved = write_profiles(shop, "d-3", 3, result_profiles(path.with_name("moved.pt"), mapping)[0])
    assert (moved.written, moved.unchanged) == (1, total - 1)
    assert moved.parts == {
        "props": 1,
        "interests": 0,
        "recommendations": 0,
        "next_categories": 0,
        "embedding": 0,
    }


def test_both_writers_leave_the_same_graph(
    shop: GraphClient, run: tuple[Path, Pseudonyms], tmp_path: Path
) -> None:
    """The procedure takes the result's columns sliced into its batch; the Cypher writer takes
    rows made from the same slices. Written first, then with a few users' parts moved (a
    field, a list, an embedding), both leave every property and edge alike; a slice that lost
    its users' alignment (an edge table off by one user) would not."""
    path, mapping = run
    data = torch.load(path, weights_only=True)
    data["churn_probability"][0] = 0.987654
    data["recommendations"]["score"][5, 0] += 1.0
    data["embedding"][14, 0] += 1.0
    torch.save(data, tmp_path / "moved.pt")
    graphs = []
    try:
        for procedure in (True, False):
            shop.procedures[WRITE_PROCEDURE] = procedure
            for n, result in enumerate((path, tmp_path / "moved.pt"), start=1):
                blocks = result_profiles(result, mapping, batch_size=50)[0]
                report = write_profiles(shop, f"both-{n}", n, blocks, batch_size=50)
                assert report.written == (120 if n == 1 else 3), report
            graphs.append(dump(shop, left_out=("profile_updated_at",)))  # digests too
            _reset(shop)
    finally:
        shop.procedures[WRITE_PROCEDURE] = True
    assert len(graphs[0]) == 120 and sum(len(row["edges"]) for row in graphs[0]) > 120
    assert {row["props"]["profile_run_id"] for row in graphs[0]} == {"both-1", "both-2"}
    assert graphs[0] == graphs[1]
