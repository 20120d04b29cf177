"""Training inputs from a snapshot."""

from __future__ import annotations

import torch

from engine.interactions import interaction_pairs, social_ties, unique_pairs
from engine.snapshot import EdgeSet, Snapshot


def _edges(src: list[int], dst: list[int]) -> EdgeSet:
    n = len(src)
    return EdgeSet(
        src=torch.tensor(src),
        dst=torch.tensor(dst),
        weight=torch.ones(n),
        ts=torch.full((n,), -1),
        count=torch.ones(n, dtype=torch.long),
    )


SNAP = Snapshot(
    node_ids={"user": ["a", "b"], "item": ["x", "y", "z"], "category": []},
    edges={
        ("user", "LISTENED", "item"): _edges([0, 1, 1], [0, 0, 2]),
        ("user", "VIEWED", "item"): _edges([0, 0], [0, 1]),
        ("user", "FOLLOWS", "user"): _edges([0], [1]),
    },
    watermark=3,
    taken_at=0.0,
    selection={},
)


def test_pairs_are_distinct_and_filtered_by_relation() -> None:
    assert interaction_pairs(SNAP).tolist() == [[0, 0, 1, 1], [0, 1, 0, 2]]
    assert interaction_pairs(SNAP, ["LISTENED"]).tolist() == [[0, 1, 1], [0, 0, 2]]
    assert interaction_pairs(SNAP, ["PURCHASED"]).size() == (2, 0)


def test_social_ties() -> None:
    src, dst = social_ties(SNAP)
    assert (src.tolist(), dst.tolist()) == ([0], [1])


def test_unique_pairs_are_those_of_unique_over_columns() -> None:
    generator = torch.Generator().manual_seed(0)
    row = torch.randint(0, 50, (5_000,), generator=generator)
    col = torch.randint(0, 70, (5_000,), generator=generator)  # wider than the rows, repeats
    expected = torch.unique(torch.stack([row, col]), dim=1)
    assert expected.size(1) < row.numel()
    assert torch.equal(unique_pairs(row, col), expected)
    assert unique_pairs(row[:0], col[:0]).shape == (2, 0)


def test_an_items_primary_category_is_its_heaviest_whatever_the_edge_order() -> None:
    """It was the first edge Neo4j returned; now the heaviest category, ties to the first name:
    the same in any edge order."""
    from engine.interactions import primary_category

    def with_links(order: list[int]) -> Snapshot:
        src, dst, weight = [0, 0, 0, 1, 1], [2, 0, 1, 1, 0], [1.0, 3.0, 3.0, 2.0, 1.0]
        links = EdgeSet(
            torch.tensor([src[k] for k in order]),
            torch.tensor([dst[k] for k in order]),
            torch.tensor([weight[k] for k in order]),
            torch.full((5,), -1),
            torch.ones(5, dtype=torch.long),
        )
        return Snapshot(
            node_ids={"item": ["x", "y"], "category": ["rock", "jazz", "pop"]},
            edges={("item", "IN_CATEGORY", "category"): links},
            watermark=0,
            taken_at=0.0,
            selection={},
        )

    # item x: rock 3 and jazz 3 tie (jazz comes first by name), pop 1; item y: jazz 2, rock 1
    for order in ([0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 4, 0, 3, 1]):
        assert primary_category(with_links(order)).tolist() == [1, 1]
