"""The online next behaviour equals what an incremental refresh of the customer's neighbourhood
computes with the same run's sequence model, action by action: through steps a stored
recurrent state stepped once would get wrong (the window of the latest actions slides, a
followee's new actions change the friends' mix, an action on an item the run never saw is
left out, a tag is an action's category)."""

from __future__ import annotations

import pytest
import torch

from core.vocabulary import FOLLOWS
from engine.dimensions.next_steps import NextConfig, NextModel, fit_next, next_columns
from engine.dimensions.online_next import NEXT_FIELDS, NextHistory, OnlineNext, PersonActions
from engine.interactions import primary_category
from engine.models.next_behaviour import SequenceConfig
from engine.snapshot import ActionLog, Snapshot
from graph.datasets.synthetic import SyntheticConfig, generate, to_snapshot
from tests.engine.neighbourhood import neighbourhood

CONFIG = NextConfig(sequence=SequenceConfig(max_epochs=2, dim=16, device="cpu"))
HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def shop() -> Snapshot:
    data = generate(
        SyntheticConfig(n_users=300, n_items=120, mean_follows=3, horizon_days=120, seed=7)
    )
    return to_snapshot(data)


@pytest.fixture(scope="module")
def model(shop: Snapshot) -> NextModel:
    """The full run's sequence model (trained once: no test changes it)."""
    trained = fit_next(shop, CONFIG)
    assert trained is not None
    return trained


def _with_action(snapshot: Snapshot, user: int, item: int, kind: str, ts: int) -> Snapshot:
    log = snapshot.actions
    assert log is not None
    k = log.kinds.index(kind)
    grown = ActionLog.build(
        torch.cat([log.user, torch.tensor([user])]),
        torch.cat([log.item, torch.tensor([item])]),
        torch.cat([log.kind, torch.tensor([k])]),
        torch.cat([log.ts, torch.tensor([ts])]),
        torch.cat([log.category, torch.tensor([-1])]),
        log.kinds,
    )
    return Snapshot(**{**snapshot.__dict__, "actions": grown})


def _person(snapshot: Snapshot, user: int) -> PersonActions:
    """What ``online_sequences.cypher`` reads of one person: their logged actions with item
    ids, relationship types and categories (tag, else the item's primary category)."""
    log = snapshot.actions
    assert log is not None
    mine = torch.nonzero(log.user == user).flatten().tolist()
    primary = primary_category(snapshot)
    names = snapshot.node_ids["category"]
    items = snapshot.node_ids["item"]

    def category(a: int) -> str | None:
        c = int(log.category[a]) if int(log.category[a]) >= 0 else int(primary[log.item[a]])
        return names[c] if c >= 0 else None

    return PersonActions(
        [items[int(log.item[a])] for a in mine],
        [log.kinds[int(log.kind[a])] for a in mine],
        [int(log.ts[a]) for a in mine],
        [category(a) for a in mine],
    )


def _history(snapshot: Snapshot, user: int) -> NextHistory:
    follows = snapshot.edges[FOLLOWS]
    followees = follows.dst[follows.src == user].tolist()
    return NextHistory(_person(snapshot, user), [_person(snapshot, f) for f in followees])


def _refresh(snapshot: Snapshot, model, user: int) -> dict:  # type: ignore[no-untyped-def, type-arg]
    around = neighbourhood(snapshot, [user], hops=1)
    row = around.node_ids["user"].index(snapshot.node_ids["user"][user])
    columns = next_columns(around, model, CONFIG, torch.tensor([row]))
    return {name: getattr(columns, name)[row] for name in NEXT_FIELDS}


def _same(got: dict, expected: dict) -> None:  # type: ignore[type-arg]
    for name in NEXT_FIELDS:
        a, b = got[name], expected[name]
        if isinstance(b, float):
            assert a == pytest.approx(b, rel=1e-6, abs=1e-9), name
        elif isinstance(b, list) and b and isinstance(b[0], float):
            # stored to 4 digits: float32 sums over another batch differ by ~1e-7, which can
            # move a probability across a rounding boundary (one unit of the 4th digit)
            assert a == pytest.approx(b, abs=1.0001e-4), name
        else:
            assert a == b, name


def test_online_next_behaviour_equals_the_refresh_action_by_action(
    shop: Snapshot, model: NextModel
) -> None:
    assert model.social
    online = OnlineNext(model, CONFIG)
    log = shop.actions
    assert log is not None
    follows = shop.edges[FOLLOWS]
    n = shop.num_nodes("user")
    followees = torch.bincount(follows.src, minlength=n)
    logged = torch.bincount(log.user, minlength=n)
    user = int(torch.nonzero((followees >= 2) & (logged >= 5)).flatten()[0])
    friend = int(follows.dst[follows.src == user][0])
    now = int(log.ts.max())
    kinds = [k for k in ("VIEWED", "CARTED", "PURCHASED") if k in log.kinds]
    steps = [(user, 3, kinds[0], now + HOUR_MS), (user, 3, kinds[-1], now + 2 * HOUR_MS)]
    # the friend turns to one category: the user's friends' mix moves
    steps += [(friend, 40 + i % 5, kinds[0], now + 3 * HOUR_MS + i) for i in range(30)]
    steps += [(user, 7, kinds[0], now + 5 * HOUR_MS)]
    # sixty actions: the window of the latest ones slides past every action the run knew
    steps += [
        (user, (11 * i) % 120, kinds[i % len(kinds)], now + (6 + i) * HOUR_MS) for i in range(60)
    ]
    snapshot = shop
    seen: set[str] = set()
    for who, item, kind, ts in steps:
        snapshot = _with_action(snapshot, who, item, kind, ts)
        if who != user:
            continue
        [got] = online.fields([_history(snapshot, user)])
        _same(got, _refresh(snapshot, model, user))
        seen.add(
            str(got["next_categories"]) + str(got["next_action"]) + str(got["hours_to_next_action"])
        )
    assert len(seen) >= 5  # the steps moved the fields: the comparison is not of constants


def test_customers_of_a_batch_are_computed_as_if_alone(shop: Snapshot, model: NextModel) -> None:
    online = OnlineNext(model, CONFIG)
    histories = [_history(shop, u) for u in range(6)]
    together = online.fields(histories)
    alone = [online.fields([h])[0] for h in histories]
    assert together == alone
    assert len({str(row["next_categories"]) for row in together}) > 1


def test_actions_the_run_never_saw_are_left_out(shop: Snapshot, model: NextModel) -> None:
    online = OnlineNext(model, CONFIG)
    own = _person(shop, 0)
    unknown = PersonActions(
        [*own.items, "never-seen", own.items[-1]],
        [*own.kinds, own.kinds[-1], "NO_SUCH_KIND"],
        [*own.ts, own.ts[-1] + 1, own.ts[-1] + 2],
        [*own.categories, "brand-new", own.categories[-1]],
    )
    assert online.fields([NextHistory(unknown)]) == online.fields([NextHistory(own)])
    with pytest.raises(ValueError, match="unequal"):
        PersonActions(["a"], [], [1], [None])


def test_the_newest_actions_decide_the_window_only_when_they_hold_it(shop: Snapshot) -> None:
    """The online path reads each person's newest few actions first; they decide the window
    only when the latest ``length`` the run knows are among them and every unread action is
    older than the window's oldest (else it reads as far as an export does)."""
    model = fit_next(
        shop, NextConfig(sequence=SequenceConfig(max_epochs=1, length=3, device="cpu"))
    )
    assert model is not None
    online = OnlineNext(model, CONFIG)  # the window is the trained model's: 3
    assert online.length == 3
    known, kind = model.item_ids[0], model.kinds[0]
    items = [known, "unknown", known, known, known]
    kinds = [kind] * 5
    assert online.window_complete(items, kinds, [9, 8, 7, 6, 5], read=6)  # all they have
    assert online.window_complete(items, kinds, [9, 8, 7, 6, 5], read=5)  # 3 known, older unread
    assert not online.window_complete(items, kinds, [9, 8, 7, 5, 5], read=5)  # a tie may be unread
    assert not online.window_complete(items[:3], kinds[:3], [9, 8, 7], read=3)  # 2 known of 3
