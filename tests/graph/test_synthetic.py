"""The synthetic generator: seeded, and its planted structure is really in the data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from graph.datasets.synthetic import (
    KIND_NAMES,
    PURCHASE,
    SyntheticConfig,
    SyntheticDataset,
    generate,
    synthetic_events,
)
from graph.events import Rejection, parse_event

CONFIG = SyntheticConfig(n_users=3_000, n_items=600, seed=5)


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b, c = (
        generate(CONFIG),
        generate(CONFIG),
        generate(SyntheticConfig(n_users=3_000, n_items=600, seed=6)),
    )
    assert np.array_equal(a.user, b.user) and np.array_equal(a.follow_dst, b.follow_dst)
    assert not np.array_equal(a.follow_dst, c.follow_dst)


def test_planted_structure() -> None:
    data = generate(CONFIG)
    assert np.allclose(data.interests.sum(axis=1), 1.0, atol=1e-5)
    assert not np.any(data.follow_src == data.follow_dst)
    in_degree = np.bincount(data.follow_dst, minlength=CONFIG.n_users)
    # Heavy tail, and influencers are followed far more than others.
    assert in_degree.max() > 10 * np.median(in_degree)
    assert in_degree[data.is_influencer].mean() > 5 * in_degree[~data.is_influencer].mean()
    # Users interact mostly with categories they are interested in.
    top = data.interests.argmax(axis=1)
    organic = data.cause < 0
    share = np.mean(data.item_category[data.item[organic]] == top[data.user[organic]])
    assert share > 2 * (1 / CONFIG.n_categories)


def test_adoptions_follow_the_influencer_and_come_later() -> None:
    data = generate(CONFIG)
    adopted = np.flatnonzero(data.cause >= 0)
    assert len(adopted) > 0 and np.all(data.kind[adopted] == PURCHASE)
    follows = set(zip(data.follow_src.tolist(), data.follow_dst.tolist(), strict=True))
    for k in adopted[:500]:
        follower, source = int(data.user[k]), int(data.cause[k])
        assert (follower, source) in follows
        earlier = (data.user == source) & (data.item == data.item[k]) & (data.kind == PURCHASE)
        assert np.any(data.ts[earlier] < data.ts[k])
    # Influencers cause most adoptions relative to their number.
    per_source = np.bincount(data.cause[adopted], minlength=CONFIG.n_users)
    assert per_source[data.is_influencer].mean() > 10 * per_source[~data.is_influencer].mean()


def test_impossible_config_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="n_items=5, n_categories=40"):
        generate(SyntheticConfig(n_users=10, n_items=5))


def test_save_load_round_trip(tmp_path: Path) -> None:
    data = generate(SyntheticConfig(n_users=200, n_items=50, seed=1))
    loaded = SyntheticDataset.load(data.save(tmp_path / "syn"))
    assert loaded.config == data.config
    assert np.array_equal(loaded.cause, data.cause) and np.array_equal(
        loaded.interests, data.interests
    )
    assert (tmp_path / "syn" / "ground_truth.npz").exists()


def test_events_are_valid() -> None:
    data = generate(SyntheticConfig(n_users=100, n_items=30, n_categories=8, seed=2))
    events = list(synthetic_events(data))
    assert len(events) == len(data.item_category) + len(data.follow_src) + len(data.user)
    assert not any(isinstance(parse_event(e, source="t"), Rejection) for e in events)
    assert {e["kind"] for e in events if e["type"] == "interaction"} <= set(KIND_NAMES)
