"""What a cut knows: first take-up against last touch, and nothing from after the cut.

An edge aggregates every event of one user, item and kind (as the ingest keeps it); its ``ts``
is the last touch, ``first_ts`` the first. These tests build such edges, where reading the last
touch for the first (or the all-time category weights for those at the cut) gives another
answer than the truth.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from engine.dimensions.adoptions import adoptions
from engine.evaluation.interest_prediction import past_snapshot
from engine.interactions import timed_actions
from engine.snapshot import ActionLog, EdgeSet, Snapshot

DAY = 86_400_000


def _edges(
    src: list[int],
    dst: list[int],
    ts: list[int],
    *,
    first: list[int] | None = None,
    count: list[int] | None = None,
    category: list[int] | None = None,
) -> EdgeSet:
    n = len(src)
    counts = torch.tensor(count) if count is not None else torch.ones(n, dtype=torch.long)
    return EdgeSet(
        torch.tensor(src),
        torch.tensor(dst),
        counts.float(),
        torch.tensor(ts),
        counts,
        category=None if category is None else torch.tensor(category),
        first_ts=None if first is None else torch.tensor(first),
    )


def _snapshot(edges: dict, *, users: int = 2, items: int = 2, categories: int = 2) -> Snapshot:
    return Snapshot(
        node_ids={
            "user": [f"u{k}" for k in range(users)],
            "item": [f"i{k}" for k in range(items)],
            "category": [f"c{k}" for k in range(categories)],
        },
        edges=edges,
        watermark=0,
        taken_at=0.0,
        selection={},
    )


def test_a_follower_who_had_the_item_before_the_leader_did_not_adopt_it() -> None:
    """u1 follows u0; u1 viewed item 0 on day 1 and again on day 9; u0 viewed it on day 5.
    Read by the last touch (day 9), u1 adopted it from u0; by the first (day 1), u1 had it
    first. The edge's ``ts`` says day 9: only ``first_ts`` tells them apart."""
    snapshot = _snapshot(
        {
            ("user", "VIEWED", "item"): _edges(
                [0, 1], [0, 0], [5 * DAY, 9 * DAY], first=[5 * DAY, 1 * DAY], count=[1, 2]
            ),
            ("user", "FOLLOWS", "user"): _edges([1], [0], [0]),
        }
    )
    actions = timed_actions(snapshot)
    found = adoptions(actions, torch.tensor([1]), torch.tensor([0]), 2, window_ms=30 * DAY)
    assert found.follower.numel() == 0
    # the same edge without its first time (as before first_ts was kept) reads as an adoption
    last_only = replace(
        snapshot.edges[("user", "VIEWED", "item")], first_ts=None
    )  # ts alone: day 9
    wrong = replace(snapshot, edges={**snapshot.edges, ("user", "VIEWED", "item"): last_only})
    assert adoptions(
        timed_actions(wrong), torch.tensor([1]), torch.tensor([0]), 2, window_ms=30 * DAY
    ).follower.tolist() == [1]


def test_a_daily_visitor_is_active_on_each_logged_day() -> None:
    """One edge, viewed on days 1, 2 and 3: the action log holds each day; the edge alone
    would say day 3 only."""
    days = [1 * DAY, 2 * DAY, 3 * DAY]
    snapshot = replace(
        _snapshot(
            {("user", "VIEWED", "item"): _edges([0], [0], [3 * DAY], first=[DAY], count=[3])}
        ),
        actions=ActionLog.build(
            torch.zeros(3, dtype=torch.long),
            torch.zeros(3, dtype=torch.long),
            torch.zeros(3, dtype=torch.long),
            torch.tensor(days),
            torch.full((3,), -1),
            ["VIEWED"],
        ),
    )
    actions = timed_actions(snapshot)
    assert actions.ts.tolist() == days  # each once, though the edge and the log both say 1 and 3
    assert actions.user.tolist() == [0, 0, 0]


def test_an_edge_touched_again_after_the_cut_is_in_the_past_as_it_stood() -> None:
    """Viewed on day 1 and three times after the cut (day 10): at the cut the edge exists, with
    one event at day 1; read by its last touch it would be missing from the past."""
    snapshot = _snapshot(
        {("user", "VIEWED", "item"): _edges([0], [0], [20 * DAY], first=[DAY], count=[4])}
    )
    past = past_snapshot(snapshot, 10 * DAY).edges[("user", "VIEWED", "item")]
    assert past.src.tolist() == [0]
    assert past.ts.tolist() == [DAY] and past.count.tolist() == [1]
    assert past.weight.tolist() == [1.0]


def test_item_categories_at_a_cut_hold_only_the_tags_given_by_then() -> None:
    """Item 0 was tagged c0 once before the cut and c1 twice after: at the cut its only
    category is c0 (weight 1). The all-time IN_CATEGORY edges (c0: 1, c1: 2) would put it
    mostly in c1, a tag nobody had given yet."""
    tags = _edges(
        [0, 1, 0], [0, 0, 1], [DAY, 20 * DAY, 21 * DAY],
        first=[DAY, 15 * DAY, 21 * DAY], count=[1, 2, 1], category=[0, 1, 1],
    )  # fmt: skip
    links = _edges([0, 0, 1], [0, 1, 1], [-1, -1, -1], count=[1, 2, 1])
    snapshot = _snapshot(
        {("user", "TAGGED", "item"): tags, ("item", "IN_CATEGORY", "category"): links}
    )
    past = past_snapshot(snapshot, 10 * DAY)
    known = past.edges[("item", "IN_CATEGORY", "category")]
    assert list(
        zip(known.src.tolist(), known.dst.tolist(), known.weight.tolist(), strict=True)
    ) == [(0, 0, 1.0)]
    # weight beyond the tags' (a catalogue's category) is kept whatever the tags say
    catalogue = _edges([0, 0, 1, 1], [0, 1, 1, 0], [-1] * 4, count=[1, 3, 1, 1])
    snapshot = replace(
        snapshot, edges={**snapshot.edges, ("item", "IN_CATEGORY", "category"): catalogue}
    )
    known = past_snapshot(snapshot, 10 * DAY).edges[("item", "IN_CATEGORY", "category")]
    assert sorted(
        zip(known.src.tolist(), known.dst.tolist(), known.weight.tolist(), strict=True)
    ) == [
        (0, 0, 1.0),
        (0, 1, 1.0),
        (1, 0, 1.0),
    ]


def _random_snapshot(generator: torch.Generator, cut: int) -> Snapshot:
    """Users, items, tags, follows and an action log with times on both sides of ``cut``."""
    n_u, n_i, n_c, n = 12, 10, 4, 60

    def times(size: int) -> torch.Tensor:
        return torch.randint(0, 2 * cut, (size,), generator=generator)

    def pairs(size: int, high: int) -> torch.Tensor:
        return torch.randint(0, high, (size,), generator=generator)

    first = times(n)
    # one edge per (user, item), as the export gives (the action log is keyed by the pair)
    pair = torch.randperm(n_u * n_i, generator=generator)[:n]
    views = EdgeSet(
        pair // n_i, pair % n_i, torch.ones(n), first, torch.ones(n, dtype=torch.long),
        first_ts=first.clone(),
    )  # fmt: skip
    tag_first = times(n)
    tags = EdgeSet(
        pairs(n, n_u), pairs(n, n_i), torch.ones(n), tag_first,
        torch.ones(n, dtype=torch.long), category=pairs(n, n_c), first_ts=tag_first.clone(),
    )  # fmt: skip
    weight = torch.zeros(n_i, n_c).index_put_((tags.dst, tags.category), tags.weight, True)
    item, cat = torch.nonzero(weight, as_tuple=True)
    links = EdgeSet(
        item, cat, weight[item, cat], torch.full((item.numel(),), -1),
        torch.ones(item.numel(), dtype=torch.long),
    )  # fmt: skip
    follows = EdgeSet(
        pairs(20, n_u), pairs(20, n_u), torch.ones(20), times(20),
        torch.ones(20, dtype=torch.long),
    )  # fmt: skip
    log = ActionLog.build(
        views.src, views.dst, torch.zeros(n, dtype=torch.long), views.ts, torch.full((n,), -1),
        ["VIEWED"],
    )  # fmt: skip
    return replace(
        _snapshot(
            {
                ("user", "VIEWED", "item"): views,
                ("user", "TAGGED", "item"): tags,
                ("item", "IN_CATEGORY", "category"): links,
                ("user", "FOLLOWS", "user"): follows,
            },
            users=n_u,
            items=n_i,
            categories=n_c,
        ),
        actions=log,
    )


def _after_the_cut(snapshot: Snapshot, cut: int, generator: torch.Generator) -> Snapshot:
    """Everything a later day adds: old edges touched again, new tags on old items (which also
    move those items' category weights), new follows and new logged actions."""
    views = snapshot.edges[("user", "VIEWED", "item")]
    again = torch.rand(len(views), generator=generator) < 0.5
    later = torch.full_like(views.ts, 3 * cut)
    views = replace(
        views,
        ts=torch.where(again, later, views.ts).maximum(views.ts),
        count=views.count + again.long(),
        weight=views.weight + again.float(),
    )
    tags = snapshot.edges[("user", "TAGGED", "item")]
    n_new = 15
    new_tags = EdgeSet(
        torch.randint(0, 12, (n_new,), generator=generator),
        torch.randint(0, 10, (n_new,), generator=generator),
        torch.ones(n_new), torch.full((n_new,), 3 * cut), torch.ones(n_new, dtype=torch.long),
        category=torch.randint(0, 4, (n_new,), generator=generator),
        first_ts=torch.full((n_new,), 3 * cut),
    )  # fmt: skip
    all_tags = EdgeSet(
        **{
            k: torch.cat([getattr(tags, k), getattr(new_tags, k)])
            for k in ("src", "dst", "weight", "ts", "count", "category", "first_ts")
        }
    )
    weight = torch.zeros(10, 4).index_put_((all_tags.dst, all_tags.category), all_tags.weight, True)
    item, cat = torch.nonzero(weight, as_tuple=True)
    links = EdgeSet(
        item, cat, weight[item, cat], torch.full((item.numel(),), -1),
        torch.ones(item.numel(), dtype=torch.long),
    )  # fmt: skip
    follows = snapshot.edges[("user", "FOLLOWS", "user")]
    follows = EdgeSet(
        torch.cat([follows.src, torch.tensor([0, 1, 2])]),
        torch.cat([follows.dst, torch.tensor([3, 4, 5])]),
        torch.ones(len(follows) + 3),
        torch.cat([follows.ts, torch.full((3,), 3 * cut)]),
        torch.ones(len(follows) + 3, dtype=torch.long),
    )
    log = snapshot.actions
    assert log is not None
    extra = int(again.sum())
    log = ActionLog.build(
        torch.cat([log.user, views.src[again]]),
        torch.cat([log.item, views.dst[again]]),
        torch.cat([log.kind, torch.zeros(extra, dtype=torch.long)]),
        torch.cat([log.ts, torch.full((extra,), 3 * cut)]),
        torch.cat([log.category, torch.full((extra,), -1)]),
        log.kinds,
    )
    return replace(
        snapshot,
        edges={
            ("user", "VIEWED", "item"): views,
            ("user", "TAGGED", "item"): all_tags,
            ("item", "IN_CATEGORY", "category"): links,
            ("user", "FOLLOWS", "user"): follows,
        },
        actions=log,
    )


def _same(a: Snapshot, b: Snapshot) -> None:
    assert a.edges.keys() == b.edges.keys()
    for key in a.edges:
        left, right = a.edges[key], b.edges[key]

        # edges in a canonical order: an edge set is a set
        def canonical(e: EdgeSet) -> list[tuple]:
            cat = e.category.tolist() if e.category is not None else [0] * len(e)
            return sorted(
                zip(
                    e.src.tolist(), e.dst.tolist(), cat, e.ts.tolist(), e.count.tolist(),
                    [round(w, 6) for w in e.weight.tolist()], e.first.tolist(), strict=True,
                )
            )  # fmt: skip

        assert canonical(left) == canonical(right), key
    assert a.actions is not None and b.actions is not None
    assert a.actions.to_dict().keys() == b.actions.to_dict().keys()
    for name in ("user", "item", "kind", "ts", "category"):
        assert torch.equal(getattr(a.actions, name), getattr(b.actions, name)), name


def test_nothing_after_the_cut_changes_what_is_known_at_it() -> None:
    """The leakage guard of the temporal evaluations (interests, look-alikes and the next
    stage's cuts read the past through ``past_snapshot``): a later day's events, tags on old
    items, follows and logged actions leave the past at the cut exactly as it was."""
    cut = 1_000 * DAY
    for seed in range(20):
        generator = torch.Generator().manual_seed(seed)
        snapshot = _random_snapshot(generator, cut)
        later = _after_the_cut(snapshot, cut, generator)
        assert later.num_edges() > snapshot.num_edges()  # the perturbation is real
        _same(past_snapshot(snapshot, cut), past_snapshot(later, cut))
        actions, later_actions = timed_actions(snapshot), timed_actions(later)
        assert torch.equal(actions.before(cut).ts, later_actions.before(cut).ts)
