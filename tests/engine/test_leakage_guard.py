"""The leakage guard of every evaluation: nothing after a cut changes what is predicted at it.

Each evaluation registers what it predicts at a cut (``engine.evaluation.as_of``). Here random
shops are
built from events the way the export builds a snapshot (one edge per user, item and kind with
its count, first and last time; item categories from a catalogue plus every tag given; orders;
an action log), and the same shop again with a later stretch of events: old edges touched
again, new edges, tags on old items (so their all-time category weights move), new follows,
new purchases and orders. Every registered evaluation must predict exactly the same at the cut
from both. The last test shows the guard can fail: a prediction that reads the all-time
categories differs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest
import torch
from torch import Tensor

import engine.evaluation.next_behaviour_evaluation
import engine.evaluation.snapshot_evaluation  # noqa: F401  (registers the rest, through its imports)
from core.settings import Settings
from core.vocabulary import CARTED, FOLLOWS, IN_CATEGORY, ORDERS, PURCHASED, TAGGED, VIEWED
from engine.dimensions.interests import interest_inputs, own_interests
from engine.evaluation.as_of import REGISTRY, AtCut
from engine.evaluation.interest_prediction import past_snapshot
from engine.evaluation.snapshot_evaluation import EvaluationConfig
from engine.snapshot import ActionLog, EdgeSet, Snapshot
from jobs.recipe import evaluation_config

DAY = 86_400_000
EXPECTED = {
    "interests",
    "lookalikes",
    "influence",
    "influence_by_category",
    "churn",
    "value",
    "propensity",
    "next_behaviour",
    "lists",
}
KINDS = [CARTED, PURCHASED, TAGGED, VIEWED]
N_USERS, N_ITEMS, N_CATEGORIES = 60, 30, 6
CUT = 300 * DAY + 7 * 3_600_000  # mid-day: a day's events fall on both sides


@dataclass
class Events:
    """Raw events as arrays: interactions (kind index into KINDS; a tag has a category)."""

    user: np.ndarray
    item: np.ndarray
    kind: np.ndarray
    ts: np.ndarray
    category: np.ndarray  # a tag's category, else -1
    follow_src: np.ndarray
    follow_dst: np.ndarray
    follow_ts: np.ndarray

    def __add__(self, other: Events) -> Events:
        return Events(
            *(np.concatenate([getattr(self, f), getattr(other, f)]) for f in self.__annotations__)
        )


def _events(rng: np.random.Generator, n: int, lo: int, hi: int, follows: int) -> Events:
    kind = rng.choice(len(KINDS), n, p=[0.15, 0.25, 0.15, 0.45])
    category = np.where(kind == KINDS.index(TAGGED), rng.integers(0, N_CATEGORIES, n), -1)
    return Events(
        rng.integers(0, N_USERS, n),
        rng.integers(0, N_ITEMS, n),
        kind,
        rng.integers(lo, hi, n),
        category,
        rng.integers(0, N_USERS, follows),
        rng.integers(0, N_USERS, follows),
        rng.integers(lo, hi, follows),
    )


def _aggregated(src: np.ndarray, dst: np.ndarray, ts: np.ndarray, tag: np.ndarray) -> EdgeSet:
    """One edge per (src, dst[, tag category]) as the ingest keeps it: count, weight, first
    and last time."""
    key = (src.astype(np.int64) * N_ITEMS + dst) * (N_CATEGORIES + 1) + (tag + 1)
    keys, inverse, count = np.unique(key, return_inverse=True, return_counts=True)
    first = np.full(len(keys), np.iinfo(np.int64).max)
    last = np.full(len(keys), -1)
    np.minimum.at(first, inverse, ts)
    np.maximum.at(last, inverse, ts)
    pair, cat = keys // (N_CATEGORIES + 1), keys % (N_CATEGORIES + 1) - 1
    return EdgeSet(
        torch.from_numpy(pair // N_ITEMS),
        torch.from_numpy(pair % N_ITEMS),
        torch.from_numpy(count).float(),
        torch.from_numpy(last),
        torch.from_numpy(count),
        category=torch.from_numpy(cat) if bool((tag >= 0).any()) else None,
        first_ts=torch.from_numpy(first),
    )


def _shop(e: Events, catalogue: np.ndarray) -> Snapshot:
    """The snapshot an export of these events gives."""
    edges: dict[tuple[str, str, str], EdgeSet] = {}
    for k, rel in enumerate(KINDS):
        pick = e.kind == k
        edges[("user", rel, "item")] = _aggregated(
            e.user[pick], e.item[pick], e.ts[pick], e.category[pick]
        )
    # IN_CATEGORY: a catalogue category (weight 1) plus every tag given to the item
    weight = np.zeros((N_ITEMS, N_CATEGORIES))
    weight[np.arange(N_ITEMS), catalogue] += 1.0
    tags = e.category >= 0
    np.add.at(weight, (e.item[tags], e.category[tags]), 1.0)
    item, cat = np.nonzero(weight)
    edges[IN_CATEGORY] = EdgeSet(
        torch.from_numpy(item),
        torch.from_numpy(cat),
        torch.from_numpy(weight[item, cat]).float(),
        torch.full((len(item),), -1),
        torch.ones(len(item), dtype=torch.long),
    )
    edges[FOLLOWS] = EdgeSet(
        torch.from_numpy(e.follow_src),
        torch.from_numpy(e.follow_dst),
        torch.ones(len(e.follow_src)),
        torch.from_numpy(e.follow_ts),
        torch.ones(len(e.follow_src), dtype=torch.long),
    )
    bought = np.flatnonzero(e.kind == KINDS.index(PURCHASED))  # each purchase an order
    edges[ORDERS] = EdgeSet(
        torch.from_numpy(e.user[bought]),
        torch.arange(len(bought)),
        torch.from_numpy(10.0 + e.item[bought]).float(),
        torch.from_numpy(e.ts[bought]),
        torch.ones(len(bought), dtype=torch.long),
    )
    return Snapshot(
        node_ids={
            "user": [f"u{k}" for k in range(N_USERS)],
            "item": [f"i{k}" for k in range(N_ITEMS)],
            "category": [f"c{k}" for k in range(N_CATEGORIES)],
            "order": [f"o{k}" for k in range(len(bought))],
        },
        edges=edges,
        watermark=0,
        taken_at=0.0,
        selection={},
        actions=ActionLog.build(
            torch.from_numpy(e.user),
            torch.from_numpy(e.item),
            torch.from_numpy(e.kind),
            torch.from_numpy(e.ts),
            torch.from_numpy(e.category),
            KINDS,
        ),
    )


def _shops(seed: int) -> tuple[Snapshot, Snapshot]:
    """A shop over 400 days, and the same shop with a later stretch of events added."""
    rng = np.random.default_rng(seed)
    catalogue = rng.integers(0, N_CATEGORIES, N_ITEMS)
    base = _events(rng, 6000, 0, 400 * DAY, follows=150)
    # customers leave at random times (churn to learn): their events after it are dropped
    leaves = rng.integers(60, 600, N_USERS) * DAY
    kept = base.ts < leaves[base.user]
    base = Events(
        *(getattr(base, f)[kept] if f.startswith(("user", "item", "kind", "ts", "category"))
          else getattr(base, f) for f in Events.__annotations__)
    )  # fmt: skip
    later = _events(rng, 800, CUT + 1, 420 * DAY, follows=40)
    return _shop(base, catalogue), _shop(base + later, catalogue)


def _differences(at_cut: AtCut, a: Snapshot, b: Snapshot, config: EvaluationConfig) -> list[str]:
    left, right = at_cut(a, CUT, config), at_cut(b, CUT, config)
    if left.keys() != right.keys():
        return [f"outputs {sorted(left)} against {sorted(right)}"]
    out = []
    for key, x in left.items():
        y = right[key]
        if x.shape != y.shape:
            out.append(f"{key}: shape {tuple(x.shape)} against {tuple(y.shape)}")
        elif not torch.allclose(x.double(), y.double(), rtol=1e-5, atol=1e-6, equal_nan=True):
            out.append(f"{key}: values differ")
    return out


@pytest.fixture(scope="module")
def config() -> EvaluationConfig:
    return evaluation_config(Settings(), item_ranking_seeds=(), max_epochs=5)


def test_every_evaluation_is_registered() -> None:
    assert set(REGISTRY) == EXPECTED


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_nothing_after_the_cut_changes_what_is_predicted_at_it(
    name: str, seed: int, config: EvaluationConfig
) -> None:
    base, later = _shops(seed)
    assert later.num_edges() > base.num_edges()  # the perturbation is real
    predicted = REGISTRY[name](base, CUT, config)
    assert predicted, f"{name} predicted nothing on the random shop: the guard would be empty"
    assert _differences(REGISTRY[name], base, later, config) == []


def test_the_guard_sees_a_prediction_that_reads_the_future(config: EvaluationConfig) -> None:
    """Interest evidence from the past's edges but the all-time item categories (the defect
    of issue 34): the later tags move them, and the guard says so."""

    def leaky(snapshot: Snapshot, cut: int, _: EvaluationConfig) -> dict[str, Tensor]:
        past = past_snapshot(snapshot, cut)
        all_time = {**past.edges, IN_CATEGORY: snapshot.edges[IN_CATEGORY]}
        return {"own": own_interests(interest_inputs(replace(past, edges=all_time)))}

    base, later = _shops(0)
    assert _differences(leaky, base, later, config) != []
