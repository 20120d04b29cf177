"""Look-alikes scored on the future, and the baselines they must beat."""

from __future__ import annotations

import torch

from engine.lookalikes import _jaccard, evaluate_lookalikes
from graph.datasets.synthetic import SyntheticConfig, generate, to_snapshot


def test_jaccard_neighbours_are_the_most_overlapping_item_sets() -> None:
    # user 0 saw {0, 1, 2}; user 1 {0, 1}; user 2 {2}; user 3 {5}
    user = torch.tensor([0, 0, 0, 1, 1, 2, 3])
    item = torch.tensor([0, 1, 2, 0, 1, 2, 5])
    found = _jaccard(user, item, 4, torch.tensor([0, 3]), torch.arange(4), 2)
    assert found[0].tolist() == [1, 2]  # 2/3 then 1/3; never itself
    assert 3 not in found[0].tolist()


def test_interest_neighbours_beat_item_overlap_and_chance_on_planted_tastes() -> None:
    snapshot = to_snapshot(generate(SyntheticConfig(n_users=1500, n_items=300, seed=4)))
    result = evaluate_lookalikes(snapshot, max_seeds=300)
    m = {name: v["precision@10"] for name, v in result["methods"].items()}
    assert result["seeds"] == 300
    assert m["interest_cosine"] > m["item_jaccard"] > m["random"] + 0.1
