"""The lists as columns read back as the slot dicts a person sees, and survive the result file."""

from __future__ import annotations

from pathlib import Path

import torch

from engine.dimensions.recommendation_lists import RecommendationLists
from engine.dimensions.recommendations import EXPLOIT, EXPLORE, Recommendations, reason


def _block(rows: int, slots: int, seed: int) -> tuple[Recommendations, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    item = torch.randint(-1, 6, (rows, slots), generator=g)
    category = torch.randint(-1, 3, (rows, slots), generator=g)
    kind = torch.where(torch.rand(rows, slots, generator=g) < 0.4, EXPLORE, EXPLOIT)
    recs = Recommendations(
        item=item,
        score=torch.randn(rows, slots, generator=g),
        kind=kind,
        friends=torch.randint(0, 3, (rows, slots), generator=g),
        own=torch.randint(0, 3, (rows, slots), generator=g),
        category=category,
    )
    return recs, torch.rand(rows, 3, generator=g) * (torch.rand(rows, 3, generator=g) < 0.5)


def _expected(
    recs: Recommendations, share: torch.Tensor, r: int, items: list[str], names: list[str]
) -> list[dict[str, object]]:
    out = []
    for slot in range(recs.item.size(1)):
        i, c = int(recs.item[r, slot]), int(recs.category[r, slot])
        if i < 0:
            continue
        kind, category = int(recs.kind[r, slot]), names[c] if c >= 0 else None
        out.append(
            {
                "item_id": items[i],
                "rank": slot + 1,
                "score": float(recs.score[r, slot]),
                "kind": "explore" if kind == EXPLORE else "exploit",
                "reason": reason(
                    kind,
                    int(recs.friends[r, slot]),
                    int(recs.own[r, slot]),
                    category,
                    float(share[r, c]) if c >= 0 else 0.0,
                ),
                "category": category,
            }
        )
    return out


def test_columns_read_as_the_slots_and_survive_the_result_file(tmp_path: Path) -> None:
    items, names = [f"i{n}" for n in range(6)], ["books", "games", "tea"]
    lists = RecommendationLists.empty(7, 4, items, names)
    a, share_a = _block(3, 4, seed=1)
    b, share_b = _block(2, 3, seed=2)  # a narrower block: its last slot stays empty
    lists.put(torch.tensor([4, 0, 2]), a, share_a)
    lists.put(torch.tensor([6, 1]), b, share_b)
    assert lists[4] == _expected(a, share_a, 0, items, names)
    assert lists[2] == _expected(a, share_a, 2, items, names)
    assert lists[1] == _expected(b, share_b, 1, items, names)
    assert lists[3] == [] and lists[5] == []  # not scored: no list
    assert any(slot["kind"] == "explore" for slot in lists[4] + lists[0] + lists[2])
    picked = lists.select(torch.tensor([2, 6, 3]))
    assert list(picked) == [lists[2], lists[6], []]
    torch.save({"recommendations": picked.to_dict()}, tmp_path / "r.pt")
    back = torch.load(tmp_path / "r.pt", weights_only=True)["recommendations"]
    assert list(RecommendationLists.from_dict(back)) == list(picked)


def test_data_without_categories_has_lists_too() -> None:
    recs, _ = _block(2, 3, seed=3)
    recs = Recommendations(**{**recs.__dict__, "category": torch.full((2, 3), -1)})
    lists = RecommendationLists.empty(2, 3, [f"i{n}" for n in range(6)], [])
    lists.put(torch.tensor([0, 1]), recs, torch.zeros(2, 0))
    assert lists[1] == _expected(recs, torch.zeros(2, 0), 1, lists.item_ids, [])
    assert all(slot["category"] is None for slot in lists[0] + lists[1])
