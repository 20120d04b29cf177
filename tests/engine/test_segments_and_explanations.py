"""Segments people can read (chosen k, lift labels, never two alike) and explanations that are
faithful to the interest weights they explain."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.dimensions import interest_evidence
from engine.dimensions.interest_evidence import InterestEvidence
from engine.dimensions.interests import (
    InterestInputs,
    InterestModel,
    interest_scores,
    own_interests,
)
from engine.dimensions.profile import ProfileConfig, build_profiles
from engine.dimensions.segments import choose_segments, interest_features, lift_labels, silhouette


def test_the_number_of_segments_comes_from_the_data() -> None:
    g = torch.Generator().manual_seed(0)
    groups = [torch.zeros(6).index_fill_(0, torch.tensor([i]), 1.0) for i in range(3)]
    p = torch.cat([0.9 * c + 0.1 * torch.rand(40, 6, generator=g) / 6 for c in groups])
    p = p / p.sum(1, keepdim=True)
    labels, centres, scores = choose_segments(interest_features(p), (2, 3, 5, 8), seed=0)
    assert centres.size(0) == 3 and max(scores, key=scores.__getitem__) == 3
    assert scores[3] > 0.5 > silhouette(interest_features(p), torch.randint(0, 3, (120,)))
    assert len(set(labels[:40].tolist())) == len(set(labels[40:80].tolist())) == 1


def test_labels_name_what_distinguishes_a_segment_and_never_repeat() -> None:
    names = ["pop", "rock", "jazz", "metal"]
    # everyone likes pop most; segment 0 leans to jazz, segment 1 to metal, 2 and 3 alike
    p = torch.tensor(
        [[0.5, 0.1, 0.4, 0.0]] * 5 + [[0.5, 0.1, 0.0, 0.4]] * 5 + [[0.6, 0.4, 0.0, 0.0]] * 10
    )
    segment = torch.tensor([0] * 5 + [1] * 5 + [2] * 5 + [3] * 5)
    labels, terms = lift_labels(segment, p, names, terms=1)
    assert labels[0] == "jazz" and labels[1] == "metal"  # not "pop": lift, not raw share
    assert len(set(labels.values())) == 4  # 2 and 3 have the same profile, not the same label
    assert terms[0][0][2] > 1.0  # the lift is reported


def _inputs() -> InterestInputs:
    """Users 0-1 have history; user 2 follows both and has none; user 3 follows user 0."""
    return InterestInputs(
        user=torch.tensor([0, 0, 0, 1, 1, 3]),
        item=torch.tensor([0, 1, 2, 2, 3, 3]),
        strength=torch.tensor([1.0, 2.0, 0.5, 1.0, 1.0, 0.2]),
        ts=torch.full((6,), -1),
        item_category=torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]),
        categories=["a", "b", "c"],
        follow_src=torch.tensor([2, 2, 3]),
        follow_dst=torch.tensor([0, 1, 0]),
        num_users=4,
    )


def test_every_explanation_is_faithful_to_the_weight_it_explains() -> None:
    inputs = _inputs()
    model = InterestModel(social=2.0, prior=0.05)
    profiles = build_profiles(
        inputs,
        torch.randn(4, 8),
        torch.zeros(4),
        user_ids=[f"u{i}" for i in range(4)],
        item_ids=[f"i{i}" for i in range(4)],
        config=ProfileConfig(evidence_k=1),
        interest_model=model,
    )
    own = own_interests(inputs)
    share = own / own.sum(1, keepdim=True).clamp(min=1e-12)
    column = {name: i for i, name in enumerate(inputs.categories)}
    for u, (names, why) in enumerate(zip(profiles.interests, profiles.explanation, strict=True)):
        assert len(why) == len(names)  # every top interest has its explanation
        for name, evidence in zip(names, why, strict=True):
            c = column[name]
            # items: named only if they add to this category; none unnamed adds more
            item_gain = {
                f"i{int(i)}": float(inputs.item_category[i, c] * s)
                for uu, i, s in zip(inputs.user, inputs.item, inputs.strength, strict=True)
                if int(uu) == u
            }
            for item in evidence["items"]:
                assert item_gain[item] > 0, (u, name, item)
            if evidence["items"]:
                assert item_gain[evidence["items"][0]] == max(item_gain.values())
            # friends: named only if their own interests hold this category
            friends = inputs.follow_dst[inputs.follow_src == u].tolist()
            for friend in evidence["friends"]:
                assert float(share[int(friend[1:]), c]) > 0, (u, name, friend)
            if not evidence["items"] and not evidence["friends"]:
                # nothing named: neither own history nor any friend holds it (popularity)
                assert float(own[u, c]) == 0
                assert all(float(share[f, c]) == 0 for f in friends)
    # the cold user (2) is explained by friends, never by empty lists for friend interests
    assert profiles.explanation[2][0]["friends"]
    # removing the named friend lowers the weight of the interest it explains
    before = interest_scores(own, inputs, model)[3, column[profiles.interests[3][0]]]
    alone = InterestInputs(
        **{
            **inputs.__dict__,
            "follow_src": torch.tensor([2, 2]),
            "follow_dst": torch.tensor([0, 1]),
        }
    )
    after = interest_scores(own_interests(alone), alone, model)[3, column[profiles.interests[3][0]]]
    assert profiles.interests[3][0] == "a" and profiles.explanation[3][0]["friends"] == ["u0"]
    assert after < before


def test_the_past_at_a_cut_holds_no_later_follows_or_interactions() -> None:
    from engine.evaluation.interest_prediction import past_snapshot
    from engine.snapshot import EdgeSet, Snapshot

    def edges(src: list[int], dst: list[int], ts: list[int]) -> EdgeSet:
        n = len(src)
        return EdgeSet(
            torch.tensor(src),
            torch.tensor(dst),
            torch.ones(n),
            torch.tensor(ts),
            torch.ones(n, dtype=torch.long),
        )

    snapshot = Snapshot(
        node_ids={"user": ["a", "b", "c"], "item": ["x"], "category": []},
        edges={
            ("user", "FOLLOWS", "user"): edges([0, 1, 2], [1, 2, 0], [5, 50, -1]),
            ("user", "VIEWED", "item"): edges([0, 1], [0, 0], [5, 50]),
        },
        watermark=0,
        taken_at=0.0,
        selection={},
    )
    past = past_snapshot(snapshot, 10)
    follows = past.edges[("user", "FOLLOWS", "user")]
    assert follows.src.tolist() == [0, 2]  # the follow made at 50 is not known at 10
    assert past.edges[("user", "VIEWED", "item")].src.tolist() == [0]


def test_explanations_of_some_users_in_any_order_survive_the_result_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The explanations are kept as columns (engine.dimensions.interest_evidence):
    profiling users 3, 0 and 2 must explain each as profiling everyone does, read one by one,
    block by block, and after a round trip through a file that loads with ``weights_only``."""
    inputs = _inputs()

    def profile(users: torch.Tensor | None) -> InterestEvidence:
        return build_profiles(
            inputs,
            torch.zeros(4, 8),
            torch.zeros(4),
            user_ids=[f"u{i}" for i in range(4)],
            item_ids=[f"i{i}" for i in range(4)],
            users=users,
            config=ProfileConfig(evidence_k=2),
        ).explanation

    everyone = [profile(None)[u] for u in range(4)]
    assert any(why["items"] for user in everyone for why in user)
    assert any(why["friends"] for user in everyone for why in user)
    some = profile(torch.tensor([3, 0, 2]))
    assert [some[r] for r in range(3)] == [everyone[3], everyone[0], everyone[2]]
    monkeypatch.setattr(interest_evidence, "BLOCK", 2)
    assert list(some) == [everyone[3], everyone[0], everyone[2]]
    torch.save(some.to_dict(), tmp_path / "evidence.pt")
    back = InterestEvidence.from_dict(torch.load(tmp_path / "evidence.pt", weights_only=True))
    assert list(back) == list(some)


def test_the_fit_keeps_the_simplest_point_the_validation_cannot_tell_from_the_best() -> None:
    """Friends help two users and hurt one: every point with friends scores one user in 60
    better than the points without, a difference well inside its standard error. The best
    point alone (social 0.25) is what the noise of one split favoured; the fit must keep the
    simplest point within one standard error: no friends, the least popularity."""
    from engine.dimensions.interests import fit_interest_model

    n, k_cats = 60, 12
    x, y, z = 10, 0, 11  # X: only user 3 has it; Z: only user 4
    user, item, strength = [], [], []
    category_of_item = []
    targets = []
    for u in range(3, n):  # users with strong evidence of their own, who follow nobody
        c = x if u == 3 else z if u == 4 else u % 10
        user.append(u), item.append(len(category_of_item)), strength.append(3.0)
        category_of_item.append(c)
        targets.append((u, c))
    user.append(2), item.append(len(category_of_item)), strength.append(0.1)  # weak Y
    category_of_item.append(y)
    targets += [(0, x), (1, x), (2, y)]
    item_category = torch.zeros(len(category_of_item), k_cats)
    item_category[torch.arange(len(category_of_item)), torch.tensor(category_of_item)] = 1.0
    inputs = InterestInputs(
        user=torch.tensor(user),
        item=torch.tensor(item),
        strength=torch.tensor(strength),
        ts=torch.full((len(user),), -1),
        item_category=item_category,
        categories=[f"c{c}" for c in range(k_cats)],
        follow_src=torch.tensor([0, 1, 2]),  # 0 and 1 follow X's user; 2 follows Z's
        follow_dst=torch.tensor([3, 3, 4]),
        num_users=n,
    )
    target = torch.tensor(targets).T
    model, info = fit_interest_model(inputs, target, k=1)
    assert info["best_valid_recall@1"] == pytest.approx(59 / 60)  # a point with friends
    assert (model.social, model.prior) == (0.0, 0.01)
    assert info["valid_recall@1"] == pytest.approx(58 / 60)
