"""Look-alikes scored on the future, and the baselines they must beat."""

from __future__ import annotations

import torch

from engine.evaluation.lookalikes import _jaccard, evaluate_lookalikes
from engine.graph_as_of import GraphAsOf
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


def test_influence_within_a_category_counts_only_that_categorys_adoptions() -> None:
    """User 0 is copied on category A's items, user 1 on B's: within A, user 0 leads."""
    from engine.dimensions.adoptions import DAY_MS, Actions
    from engine.evaluation.influence_evaluation import evaluate_influence_by_category

    # followers 2..9 follow both 0 and 1; items 0, 2 are A; items 1, 3 are B
    followers = list(range(2, 10))
    src = torch.tensor(followers * 2)
    dst = torch.tensor([0] * 8 + [1] * 8)
    users, items, times = [], [], []
    for item, leader, t0 in ((0, 0, 0), (1, 1, 0), (2, 0, 40), (3, 1, 40)):
        users.append(leader)
        items.append(item)
        times.append(t0 * DAY_MS)
        copiers = followers if leader == 0 else followers[:2]  # A is copied far more
        for f in copiers:
            users.append(f)
            items.append(item)
            times.append((t0 + 1) * DAY_MS)
    actions = Actions(torch.tensor(users), torch.tensor(items), torch.tensor(times))
    item_category = torch.tensor([[1.0, 0], [0, 1.0], [1.0, 0], [0, 1.0]])
    result = evaluate_influence_by_category(
        GraphAsOf(actions, src, dst, 10),
        item_category,
        ["a", "b"],
        split_ts=20 * DAY_MS,
        horizon_ms=30 * DAY_MS,
        window_ms=5 * DAY_MS,
        k=2,
        categories=2,
    )
    assert set(result["categories"]) == {"a", "b"}
    a = result["categories"]["a"]
    # active in A before the cut: user 0 and its 8 followers (user 1 never touched A)
    assert a["_users"] == {"active": 9.0, "with_future": 1.0}  # only user 0 is copied in A
    assert a["past_adoptions_in_category"]["precision@2"] >= 0.5
