"""Influence, interests, segments and the full/incremental pipeline on planted data."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest
import torch

from engine.dimensions import profile
from engine.dimensions.adoptions import DAY_MS, Actions, adoptions
from engine.dimensions.interests import (
    InterestInputs,
    InterestModel,
    interest_inputs,
    interest_scores,
    own_interests,
)
from engine.dimensions.next_steps import NextConfig
from engine.dimensions.profile import build_profiles
from engine.dimensions.segments import kmeans
from engine.evaluation.influence_evaluation import evaluate_influence
from engine.evaluation.interest_prediction import evaluate_interest_prediction, time_cut
from engine.graph_as_of import GraphAsOf
from engine.models.centrality import pagerank
from engine.models.next_behaviour import SequenceConfig
from engine.models.train import TrainConfig
from engine.pipeline import ModelState, PipelineConfig, run_full, run_incremental
from engine.snapshot import EdgeSet
from graph.datasets.synthetic import SyntheticConfig, generate, to_snapshot


def test_pagerank_matches_networkx() -> None:
    g = nx.gnp_random_graph(60, 0.08, seed=1, directed=True)
    src, dst = torch.tensor(list(g.edges())).T
    ours = pagerank(src, dst, 60)
    theirs = nx.pagerank(g, tol=1e-12)
    assert max(abs(float(ours[n]) - theirs[n]) for n in g) < 1e-6


def test_adoption_needs_the_followee_first_and_within_the_window() -> None:
    # user 1 follows user 0; user 2 follows nobody
    actions = Actions(
        user=torch.tensor([0, 1, 0, 1, 0, 1, 2]),
        item=torch.tensor([5, 5, 6, 6, 7, 7, 5]),
        ts=torch.tensor([10, 20, 30, 5, 0, 10 * DAY_MS, 25]),
    )
    got = adoptions(actions, torch.tensor([1]), torch.tensor([0]), 3, window_ms=DAY_MS)
    # item 5: 0 then 1 within a day -> adoption; item 6: follower first -> none;
    # item 7: ten days later -> outside the window; user 2 follows nobody -> none
    assert (got.influencer.tolist(), got.follower.tolist(), got.item.tolist()) == ([0], [1], [5])


def test_cold_user_gets_exactly_the_followees_interests() -> None:
    inputs = InterestInputs(
        user=torch.tensor([0, 1]),
        item=torch.tensor([0, 1]),
        strength=torch.ones(2),
        ts=torch.full((2,), -1),
        item_category=torch.eye(2),
        categories=["a", "b"],
        follow_src=torch.tensor([2, 2]),
        follow_dst=torch.tensor([0, 1]),
        num_users=3,
    )
    own = own_interests(inputs)
    p = interest_scores(own, inputs, InterestModel(social=1.0, prior=1e-9))
    assert torch.allclose(p[2], torch.tensor([0.5, 0.5]))
    assert torch.allclose(p[0], torch.tensor([1.0, 0.0]))  # follows nobody: own only
    # with a popularity prior, own evidence still dominates a user who has it
    smoothed = interest_scores(own, inputs, InterestModel(social=0.0, prior=0.5))
    assert smoothed[0, 0] > smoothed[0, 1] > 0


def test_kmeans_finds_two_separated_groups() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(30, 4, generator=g) * 0.05 + torch.tensor([1.0, 0, 0, 0])
    b = torch.randn(30, 4, generator=g) * 0.05 + torch.tensor([0, 1.0, 0, 0])
    labels, centres = kmeans(torch.cat([a, b]), 2, seed=0)
    assert centres.shape == (2, 4)
    assert len(set(labels[:30].tolist())) == 1 and len(set(labels[30:].tolist())) == 1
    assert labels[0] != labels[30]


@pytest.fixture(scope="module")
def planted():  # type: ignore[no-untyped-def]
    return generate(SyntheticConfig(n_users=3000, n_items=600, seed=1))


def test_influence_model_finds_planted_influencers(planted) -> None:  # type: ignore[no-untyped-def]
    ts = torch.from_numpy(planted.ts)
    actions = Actions(torch.from_numpy(planted.user), torch.from_numpy(planted.item), ts)
    lo, hi = int(ts.min()), int(ts.max())
    split = lo + int((hi - lo) * 0.7)
    metrics = evaluate_influence(
        GraphAsOf(
            actions,
            torch.from_numpy(planted.follow_src),
            torch.from_numpy(planted.follow_dst),
            3000,
        ),
        split_ts=split,
        horizon_ms=hi - split,
        window_ms=14 * DAY_MS,
        k=30,
        planted=torch.from_numpy(planted.influence),
    )
    # 30 planted influencers among 3,000 users: chance would find 0.3 of them.
    assert metrics["model"]["precision@30_planted"] >= 0.2
    assert metrics["model"]["spearman"] > 0.2
    assert set(metrics) == {"model", "past_adoptions", "pagerank", "articlerank", "degree"}


def test_full_then_incremental_pipeline(planted, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    snapshot = to_snapshot(planted)
    config = PipelineConfig(
        train=TrainConfig(
            embedding_dim=16, num_layers=2, max_epochs=4, eval_every=2, lr=5e-3, device="cpu"
        ),
        finetune_epochs=1,
        # one epoch of the sequence model: what is checked of it is that the incremental run
        # predicts as the full one did, not how well (tests/engine/test_next_behaviour.py)
        next=NextConfig(sequence=SequenceConfig(max_epochs=1, device="cpu")),
    )
    steps: list[str] = []
    full = run_full(snapshot, config, run_id="r1", on_step=steps.append)
    assert steps == ["train", "influence", "profile", "next"]
    p = full.profiles
    assert p.embedding.shape == (3000, 16) and len(p.interests) == 3000
    # 1 + how many score higher: equal scores (a baseline on the count scale) share a rank
    higher = (p.influence.unsqueeze(0) > p.influence.unsqueeze(1)).sum(1)
    assert p.influence_rank.tolist() == (higher + 1).tolist()
    # interests agree with the planted ones: each user's top interest is among their top-3
    truth = torch.from_numpy(planted.interests).topk(3, dim=1).indices
    top1 = torch.tensor([int(names[0][3:]) for names in p.interests])
    assert (truth == top1[:, None]).any(1).float().mean() > 0.7
    explained = p.explanation[0]
    assert len(explained) == len(p.interests[0]) and explained[0]["items"]
    # an item linked by several kinds of interaction is named once
    assert all(len(set(e["items"])) == len(e["items"]) for user in p.explanation for e in user)
    # adoption evidence: per-interest counts never exceed the user's total, and somebody has some
    per_interest = torch.tensor(p.interest_adoptions)
    assert (per_interest <= p.adoptions[:, None]).all() and int(p.adoptions.sum()) > 0
    assert p.segments.summary and sum(s["size"] for s in p.segments.summary) == 3000

    assert full.state is not None
    state = ModelState.load(full.state.save(tmp_path / "state.pt"))
    seeds = torch.zeros(3000, dtype=torch.bool)
    seeds[[5, 17]] = True
    snapshot.node_features["user"] = {"seed": seeds}
    inc = run_incremental(snapshot, state, config)
    assert inc.user_ids == ["u5", "u17"]
    assert inc.profiles.influence_rank.tolist() == p.influence_rank[[5, 17]].tolist()
    assert set(inc.profiles.segment.tolist()) <= set(range(len(state.segments.centres)))
    # value, lifecycle and churn come from the full run's models and RFM boundaries: on the
    # same data, the same figures
    assert state.customer_fit["basis"] == "orders"
    for name in ("rfm_score", "lifecycle_stage", "clv", "churn_probability"):
        full_values = [getattr(p, name)[u] for u in (5, 17)]
        assert getattr(inc.profiles, name) == pytest.approx(full_values), name
    # next behaviour: the full run's sequence model, the same sequences, the same prediction;
    # every list is full, its explore share as configured, and names no item bought before
    assert inc.profiles.next_categories == [p.next_categories[u] for u in (5, 17)]
    assert inc.profiles.next_action == [p.next_action[u] for u in (5, 17)]
    bought = snapshot.edges[("user", "PURCHASED", "item")]
    for u, recs in zip((5, 17), inc.profiles.recommendations, strict=True):
        assert len(recs) == 10 and sum(r["kind"] == "explore" for r in recs) == 2
        theirs = {snapshot.node_ids["item"][i] for i in bought.dst[bought.src == u].tolist()}
        assert not theirs & {r["item_id"] for r in recs}
        assert all(r["reason"] for r in recs)
    assert state.next_model is not None and state.next_model.shown


def test_an_incremental_run_on_a_neighbourhood_scores_churn_and_value_on_the_population_scale() -> (
    None
):
    """The incremental snapshot is what the export gives: a few users and their neighbourhood,
    not the whole graph (passing the whole graph made the two runs equal by construction). Its
    churn features used a BG/NBD refitted on the neighbourhood and its "now" was the
    neighbourhood's latest action; on the same data the seeds' churn and value must equal the
    full run's. Two hops: the churn features read the followees' followees."""
    from tests.engine.neighbourhood import neighbourhood

    shop = SyntheticConfig(
        n_users=1500, n_items=300, mean_follows=4, horizon_days=400, churn_per_year=0.8, seed=3
    )  # long enough and with churners: the full run learns a churn model
    snapshot = to_snapshot(generate(shop))
    config = PipelineConfig(
        train=TrainConfig(embedding_dim=8, num_layers=1, max_epochs=1, device="cpu"),
        finetune_epochs=1,
        next=NextConfig(sequence=SequenceConfig(max_epochs=1, device="cpu")),
    )
    full = run_full(snapshot, config, run_id="r1")
    assert full.state is not None
    assert full.state.customer_fit["churn"]["model"].startswith("logistic")
    at_risk = [u for u, v in enumerate(full.profiles.churn_probability) if v is not None]
    seeds = at_risk[:4]
    around = neighbourhood(snapshot, seeds, hops=2)
    assert len(seeds) == 4 and around.num_nodes("user") < snapshot.num_nodes("user") // 2
    inc = run_incremental(around, full.state, config)
    order = sorted(seeds)
    assert inc.user_ids == [snapshot.node_ids["user"][u] for u in order]
    p = full.profiles
    for name in (
        "churn_probability",
        "probability_active",
        "expected_purchases",
        "clv",
        "recency_days",
        "rfm_score",
        "lifecycle_stage",
    ):
        expected = [getattr(p, name)[u] for u in order]
        got = getattr(inc.profiles, name)
        for a, b in zip(got, expected, strict=True):
            if isinstance(b, float) and b == b:
                assert a == pytest.approx(b, rel=1e-6, abs=1e-9), (name, got, expected)
            else:
                assert a == b or (a != a and b != b), (name, got, expected)
    assert all(isinstance(v, float) for v in inc.profiles.churn_probability)  # figures, not nulls


def test_interest_prediction_beats_its_baselines_and_helps_cold_users(planted) -> None:  # type: ignore[no-untyped-def]
    snapshot = to_snapshot(planted)
    timed = [e for key, e in snapshot.edges.items() if key[2] == "item" and key[0] == "user"]
    cut = time_cut(torch.cat([e.ts for e in timed]), 0.8)
    for key, e in list(snapshot.edges.items()):
        if key[0] == "user" and key[2] == "item":  # users 0..299 lose their past: cold
            keep = ~((e.src < 300) & (e.ts <= cut))
            snapshot.edges[key] = EdgeSet(
                e.src[keep], e.dst[keep], e.weight[keep], e.ts[keep], e.count[keep]
            )
    m = evaluate_interest_prediction(snapshot, splits=(0.8,))["summary"]
    assert m["profile"]["recall@10"] > m["own_history"]["recall@10"] > m["popularity"]["recall@10"]
    assert m["profile"]["cold_users"] >= 250
    # the cold have no history of their own (own_history ranks at random): friends carry them
    assert m["profile"]["cold_recall@10"] > m["own_history"]["cold_recall@10"] + 0.1
    assert m["profile"]["cold_recall@10"] >= m["friends_average"]["cold_recall@10"]


def test_purchase_intent_weighs_evidence_only_when_the_model_says_so() -> None:
    inputs = InterestInputs(
        user=torch.tensor([0, 0]),
        item=torch.tensor([0, 1]),
        strength=torch.ones(2),
        ts=torch.full((2,), -1),
        item_category=torch.eye(2),
        categories=["viewed", "bought"],
        follow_src=torch.empty(0, dtype=torch.long),
        follow_dst=torch.empty(0, dtype=torch.long),
        num_users=1,
        intent=torch.tensor([1.0, 4.0]),  # a view, a purchase
    )
    assert own_interests(inputs)[0].tolist() == [1.0, 1.0]
    assert own_interests(inputs, intent=True)[0].tolist() == [1.0, 4.0]


def test_the_interest_grid_is_scored_on_a_bounded_sample(planted) -> None:  # type: ignore[no-untyped-def]
    """All users with a target when they are few (the chosen model's score is its plain
    recall over everyone), a seeded sample of max_users when they are many."""
    from engine.dimensions.interests import fit_interest_model
    from engine.evaluation.interest_prediction import temporal_split
    from engine.evaluation.metrics import rank_metrics

    parts = temporal_split(to_snapshot(planted), 0.8)
    assert parts is not None
    inputs, target, _ = parts
    everyone = int(target[0].unique().numel())
    model, info = fit_interest_model(inputs, target, social=(0.0, 1.0), prior=(0.1,))
    assert info["valid_users"] == everyone
    own = own_interests(inputs, half_life_days=model.half_life_days, intent=model.intent)
    identity = torch.eye(inputs.item_category.size(1))
    plain = rank_metrics(interest_scores(own, inputs, model), identity, target, [], k=10)
    assert info["valid_recall@10"] == pytest.approx(plain["recall@10"])
    _, sampled = fit_interest_model(inputs, target, social=(0.0,), prior=(0.1,), max_users=50)
    assert sampled["valid_users"] == 50 < everyone


def test_explanations_do_not_depend_on_the_block_of_users(planted, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Evidence is picked a block of users at a time (memory stays bounded at a million
    users): blocks of 7 users must name the same items and friends as one block of all."""
    snapshot = to_snapshot(planted)
    config = PipelineConfig()
    inputs = interest_inputs(snapshot, config.max_categories, min_rating=config.min_rating)
    n = snapshot.num_nodes("user")

    def explanations() -> list[list[dict[str, list[str]]]]:
        return list(
            build_profiles(
                inputs,
                torch.zeros(n, 8),
                torch.zeros(n),
                user_ids=snapshot.node_ids["user"],
                item_ids=snapshot.node_ids["item"],
            ).explanation
        )

    whole = explanations()
    assert sum(bool(e["items"]) and bool(e["friends"]) for user in whole for e in user) > n
    monkeypatch.setattr(profile, "EVIDENCE_BLOCK", 7)
    assert explanations() == whole
