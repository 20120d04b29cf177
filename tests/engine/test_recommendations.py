"""Recommendations: the exploration share, the posterior, what is never recommended."""

from __future__ import annotations

from dataclasses import replace

import torch

from engine.dimensions.recommendations import (
    EXPLOIT,
    EXPLORE,
    Evidence,
    EvidenceSource,
    RecommendConfig,
    explore_categories,
    posterior,
    reason,
    recommend,
    standardised_sum,
)

N_USERS, N_CATEGORIES, PER_CATEGORY = 6, 8, 5
N_ITEMS = N_CATEGORIES * PER_CATEGORY
ITEM_CATEGORY = torch.arange(N_ITEMS) // PER_CATEGORY


def _evidence(**changes: torch.Tensor) -> Evidence:
    """Every user acts a lot in category 0 and once in 1; friends like category 5."""
    actions = torch.zeros(N_USERS, N_CATEGORIES)
    actions[:, 0], actions[:, 1] = 6, 1
    touched = torch.zeros(N_USERS, N_ITEMS, dtype=torch.bool)
    touched[:, :3] = True
    touched[:, PER_CATEGORY] = True
    friend_share = torch.zeros(N_USERS, N_CATEGORIES)
    friend_share[:, 5] = 1.0
    base = Evidence(
        actions=actions,
        friend_share=friend_share,
        shown=torch.zeros(N_USERS, N_CATEGORIES),
        touched=touched,
        bought=touched & (torch.arange(N_ITEMS) < 2),
        friend_items=torch.zeros(N_USERS, N_ITEMS),
        item_category=ITEM_CATEGORY,
        item_popularity=torch.arange(N_ITEMS, 0, -1).float(),
    )
    return replace(base, **changes)


def _scores() -> torch.Tensor:
    return standardised_sum([torch.linspace(1, 0, N_ITEMS).expand(N_USERS, -1).clone()])


def test_the_exploration_share_sets_the_number_and_place_of_explore_slots() -> None:
    for share, expected in ((0.0, 0), (0.1, 1), (0.3, 3), (0.5, 5)):
        recs = recommend(_scores(), _evidence(), RecommendConfig(explore_share=share))
        assert (recs.kind == EXPLORE).sum(1).tolist() == [expected] * N_USERS
    recs = recommend(_scores(), _evidence(), RecommendConfig(explore_share=0.3))
    assert torch.nonzero(recs.kind[0] == EXPLORE).flatten().tolist() == [2, 5, 9]


def test_lists_skip_bought_items_and_explore_only_untouched_items_in_thin_categories() -> None:
    evidence = _evidence()
    recs = recommend(_scores(), evidence, RecommendConfig(explore_share=0.3, n=10))
    assert bool((recs.item >= 0).all())
    assert not bool(evidence.bought.gather(1, recs.item).any())
    explored = recs.item[recs.kind == EXPLORE]
    assert not bool(evidence.touched[0, explored].any())
    # category 0 (6 actions) is never explored; category 1 (1 action) may be
    assert 0 not in ITEM_CATEGORY[explored].tolist()
    # no item twice in a list
    assert all(len(set(row)) == len(row) for row in recs.item.tolist())
    # the exploit slots are the best-scored remaining items, best first
    exploit = recs.item[0][recs.kind[0] == EXPLOIT].tolist()
    assert exploit == sorted(exploit)


def test_the_posterior_moves_with_reactions_to_exploration() -> None:
    config = RecommendConfig()
    alpha, beta = posterior(_evidence(), config)
    mean = alpha / (alpha + beta)
    assert float(mean[0, 5]) > float(mean[0, 6])  # friends like 5
    # category 5 shown three times without a reaction: its posterior mean falls
    shown = torch.zeros(N_USERS, N_CATEGORIES)
    shown[:, 5] = 3
    a2, b2 = posterior(_evidence(shown=shown), config)
    assert float((a2 / (a2 + b2))[0, 5]) < float(mean[0, 5])
    # a reaction (an action in 5) raises it again
    actions = _evidence().actions.clone()
    actions[:, 5] = 1
    a3, b3 = posterior(_evidence(shown=shown, actions=actions), config)
    assert float((a3 / (a3 + b3))[0, 5]) > float((a2 / (a2 + b2))[0, 5])


def test_thompson_sampling_explores_in_proportion_to_the_posterior() -> None:
    counts = torch.zeros(N_CATEGORIES)
    config = RecommendConfig(explore_share=0.1)
    for seed in range(200):
        g = torch.Generator().manual_seed(seed)
        picked = explore_categories(_evidence(), config, g)
        counts += torch.bincount(picked.flatten(), minlength=N_CATEGORIES)
    assert counts[0] == 0  # thick evidence: never explored
    assert counts[5] > counts[2:].sum() - counts[5]  # friends' favourite, most often
    assert bool((counts[[2, 3, 4, 6, 7]] > 0).all())  # but every thin category gets a turn


def test_evidence_source_builds_the_same_dense_rows() -> None:
    pairs = torch.tensor([[0, 0, 1, 2], [0, 6, 6, 9]])
    source = EvidenceSource.build(
        pairs=pairs,
        bought=torch.tensor([[0], [6]]),
        category_counts=(
            torch.tensor([0, 1, 2]),
            torch.tensor([0, 1, 1]),
            torch.tensor([3.0, 1, 2]),
        ),
        follows=(torch.tensor([0, 0]), torch.tensor([1, 2])),
        shown=(torch.tensor([1]), torch.tensor([3]), torch.tensor([2.0])),
        item_category=ITEM_CATEGORY,
        num_users=3,
        num_categories=N_CATEGORIES,
    )
    ev = source.rows(torch.tensor([0, 1]))
    assert ev.touched[0].nonzero().flatten().tolist() == [0, 6]
    assert ev.bought[0].nonzero().flatten().tolist() == [6]
    assert ev.friend_items[0, 6] == 1 and ev.friend_items[0, 9] == 1  # followees 1 and 2
    assert ev.friend_share[0, 1].item() == 1.0  # both followees act only in category 1
    assert ev.shown[1, 3] == 2 and ev.actions[0, 0] == 3


def test_reasons_read_as_sentences() -> None:
    assert reason(EXPLOIT, 3, 0, "rock", 0.0) == "3 people you follow acted on it"
    assert reason(EXPLOIT, 0, 4, "rock", 0.0) == "you acted on 4 items in rock"
    assert reason(EXPLORE, 0, 0, "jazz", 0.25).startswith("explore: jazz is new for you, 25%")


def test_a_reaction_to_an_exploration_slot_moves_the_posterior_and_the_list() -> None:
    """A full run shows a user an exploration slot; without a reaction the slot counts against
    its category, and after an action in it (a new event, an incremental run) for it: the
    posterior rises and the list changes."""
    from engine.dimensions.next_steps import NextConfig, _evidence_source, _unanswered, next_columns
    from engine.models.next_behaviour import SequenceConfig
    from engine.models.train import TrainConfig
    from engine.pipeline import PipelineConfig, run_full
    from engine.sequences import action_categories
    from engine.snapshot import ActionLog
    from graph.datasets.synthetic import SyntheticConfig, generate, to_snapshot

    snapshot = to_snapshot(generate(SyntheticConfig(n_users=200, n_items=60, seed=4)))
    config = PipelineConfig(
        train=TrainConfig(embedding_dim=8, max_epochs=2, device="cpu"),
        next=NextConfig(sequence=SequenceConfig(max_epochs=2, device="cpu")),
    )
    full = run_full(snapshot, config, run_id="r")
    assert full.state is not None and full.state.next_model is not None
    model = full.state.next_model
    user_id, category, shown_at = model.shown[0]
    u = snapshot.index_of("user")[user_id]
    c = snapshot.index_of("category")[category]
    log = snapshot.actions
    assert log is not None
    cats = action_categories(log, snapshot)
    # no reaction yet: the slot is a failure of its category
    users, categories, _ = _unanswered(snapshot, log, cats, model.shown)
    assert ((users == u) & (categories == c)).any()
    before = _evidence_source(snapshot, log, cats, model.shown, shown_at).rows(torch.tensor([u]))
    explored = next(r for r in full.profiles.recommendations[u] if r["kind"] == "explore")
    # the user views the explored item after it was shown
    item = snapshot.index_of("item")[explored["item_id"]]
    snapshot.actions = ActionLog.build(
        torch.cat([log.user, torch.tensor([u])]),
        torch.cat([log.item, torch.tensor([item])]),
        torch.cat([log.kind, torch.tensor([log.kinds.index("VIEWED")])]),
        torch.cat([log.ts, torch.tensor([shown_at + 1])]),
        torch.cat([log.category, torch.tensor([-1])]),
        log.kinds,
    )
    reacted = snapshot.actions
    cats = action_categories(reacted, snapshot)
    users, categories, _ = _unanswered(snapshot, reacted, cats, model.shown)
    assert not ((users == u) & (categories == c)).any()
    after = _evidence_source(snapshot, reacted, cats, model.shown, shown_at).rows(torch.tensor([u]))
    a0, b0 = posterior(before, RecommendConfig())
    a1, b1 = posterior(after, RecommendConfig())
    assert float(a1[0, c] / (a1[0, c] + b1[0, c])) > float(a0[0, c] / (a0[0, c] + b0[0, c]))
    cols = next_columns(snapshot, model, config.next, torch.tensor([u]))
    new_items = [r["item_id"] for r in cols.recommendations[u] if r["kind"] == "explore"]
    assert explored["item_id"] not in new_items  # touched now: never explored again
    assert cols.recommendations[u] != full.profiles.recommendations[u]


def test_blocks_of_users_shrink_for_a_large_catalogue() -> None:
    config = RecommendConfig()
    assert config.rows_per_block(1_000) == config.batch_size
    assert config.rows_per_block(1_000_000) * 1_000_000 <= config.max_block_floats
    assert config.rows_per_block(10**12) == 1


def _population(seed: int) -> tuple[EvidenceSource, torch.Tensor]:
    """Random users, items in categories, follows, buys and unanswered slots; one exploit
    score per (user, item)."""
    g = torch.Generator().manual_seed(seed)
    n_users, n_items, n_categories = 40, 120, 9
    item_category = torch.randint(-1, n_categories, (n_items,), generator=g)
    users = torch.randint(0, n_users, (600,), generator=g)
    # skewed item choice: popular items and popularity ties
    items = (torch.rand(600, generator=g) ** 2 * n_items).long()
    pairs = torch.unique(torch.stack([users, items]), dim=1)
    bought = pairs[:, torch.rand(pairs.size(1), generator=g) < 0.3]
    cat = item_category[pairs[1]]
    has = cat >= 0
    follows = torch.randint(0, n_users, (2, 120), generator=g)
    shown = torch.randint(0, n_users, (20,), generator=g)
    source = EvidenceSource.build(
        pairs=pairs,
        bought=bought,
        category_counts=(pairs[0][has], cat[has], torch.ones(int(has.sum()))),
        follows=(follows[0], follows[1]),
        shown=(shown, torch.randint(0, n_categories, (20,), generator=g), torch.ones(20)),
        item_category=item_category,
        num_users=n_users,
        num_categories=n_categories,
    )
    scores = [torch.randn(n_users, n_items, generator=g), torch.rand(n_users, n_items, generator=g)]
    return source, standardised_sum(scores)


def test_lists_on_candidate_columns_equal_the_lists_on_every_item() -> None:
    """The scalable path (EvidenceSource.lists: a few candidate columns per user) gives the
    same items, kinds and reasons' evidence as recommend over the whole catalogue."""
    explored = 0
    for seed in range(6):
        source, score = _population(seed)
        users = torch.arange(score.size(0))
        for config in (RecommendConfig(n=5, explore_share=0.4, seed=seed), RecommendConfig()):
            dense = recommend(score.clone(), source.rows(users), config)
            sparse, evidence = source.lists(users, score.clone(), config)
            assert evidence.columns is not None
            assert evidence.columns.size(1) < score.size(1)  # fewer columns than items
            assert torch.equal(sparse.item, dense.item)
            assert torch.equal(sparse.kind, dense.kind)
            assert torch.equal(sparse.friends, dense.friends)
            assert torch.equal(sparse.own, dense.own)
            assert torch.equal(sparse.category, dense.category)
            assert torch.allclose(sparse.score, dense.score, equal_nan=True)
            explored += int((dense.kind == EXPLORE).sum())
    assert explored > 50  # the exploration branch ran, with friends' and popular items
