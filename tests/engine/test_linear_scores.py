"""Standardised ranker scores in closed form equal the dense z-scores they replace."""

from __future__ import annotations

import torch

from engine.dimensions.recommendations import standardised_sum
from engine.models.linear_scores import ItemSide, RankerBlock, standardised_scores


def _blocks(seed: int) -> list[RankerBlock]:
    g = torch.Generator().manual_seed(seed)
    b, n_items = 7, 50
    known = torch.rand(n_items, generator=g) > 0.2
    sequence = ItemSide.of(torch.randn(n_items, 5, generator=g) + 0.5, known)
    ranking = ItemSide.of(torch.randn(n_items, 4, generator=g))
    # sparse terms on distinct (row, item) pairs of known items
    pairs = torch.unique(torch.randint(0, b * n_items, (30,), generator=g))
    row, item = pairs // n_items, pairs % n_items
    on_known = known[item]
    extra = (row[on_known], item[on_known], torch.rand(int(on_known.sum()), generator=g) * 3)
    return [
        RankerBlock(sequence, torch.randn(b, 5, generator=g), extra),
        RankerBlock(ranking, torch.randn(b, 4, generator=g) * 10 + 2),
    ]


def test_closed_form_moments_match_the_dense_rows() -> None:
    for seed in range(5):
        for block in _blocks(seed):
            dense = block.dense()
            known = block.items.known
            mean, std = block.moments()
            assert torch.allclose(mean.float(), dense[:, known].mean(1), atol=1e-4)
            assert torch.allclose(std.float(), dense[:, known].std(1), rtol=1e-4)


def test_the_fused_sum_equals_the_sum_of_dense_z_scores() -> None:
    for seed in range(5):
        blocks = _blocks(seed)
        fused = standardised_scores(blocks)
        # the reference: z-scores over known items; unknown items read 0
        reference = torch.zeros_like(fused)
        for block in blocks:
            known = block.items.known
            z = torch.zeros_like(fused)
            z[:, known] = standardised_sum([block.dense()[:, known]])
            reference += z
        assert torch.allclose(fused, reference, atol=1e-4), (fused - reference).abs().max()
        # without unknown items the reference is standardised_sum itself
        side = blocks[1].items
        assert torch.allclose(
            standardised_scores([blocks[1]]), standardised_sum([blocks[1].dense()]), atol=1e-4
        )
        assert bool(side.known.all())
