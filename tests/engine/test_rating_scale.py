"""What counts as a positive rating is read off the data's own scale, never a fixed 3."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.dimensions.interests import interest_inputs
from engine.dimensions.profile import Segments
from engine.interactions import interaction_pairs, rating_threshold
from engine.pipeline import ModelState, PipelineConfig, with_rating_scale
from engine.snapshot import EdgeSet, Snapshot


def _rated(ratings: list[float]) -> Snapshot:
    n = len(ratings)
    return Snapshot(
        node_ids={"user": ["u"], "item": [f"i{k}" for k in range(n)], "category": ["c"]},
        edges={
            ("user", "RATED", "item"): EdgeSet(
                torch.zeros(n, dtype=torch.long),
                torch.arange(n),
                torch.tensor(ratings),
                torch.full((n,), -1),
                torch.ones(n, dtype=torch.long),
            ),
            ("item", "IN_CATEGORY", "category"): EdgeSet(
                torch.arange(n),
                torch.zeros(n, dtype=torch.long),
                torch.ones(n),
                torch.full((n,), -1),
                torch.ones(n, dtype=torch.long),
            ),
        },
        watermark=0,
        taken_at=0.0,
        selection={},
    )


@pytest.mark.parametrize(
    ("ratings", "threshold", "interests"),
    [
        ([1.0, 2.0, 4.0, 5.0], 3.0, [False, False, True, True]),  # stars: as before
        ([1.0, 4.0, 8.0, 10.0], 5.5, [False, False, True, True]),  # 4 of 10 is no interest
        ([0.0, 0.2, 0.9, 1.0], 0.5, [False, False, True, True]),  # a fixed 3 kept none of them
    ],
)
def test_a_rating_counts_as_interest_from_the_middle_of_its_own_scale(
    ratings: list[float], threshold: float, interests: list[bool]
) -> None:
    snapshot = _rated(ratings)
    assert rating_threshold(snapshot) == pytest.approx(threshold)
    inputs = interest_inputs(snapshot)
    assert (inputs.strength > 0).tolist() == interests
    # a configured threshold still wins
    assert (interest_inputs(snapshot, min_rating=0.0).strength > 0).sum() == sum(
        r > 0 for r in ratings
    )


def test_implicit_data_has_no_threshold_and_every_interaction_counts() -> None:
    snapshot = _rated([1.0])
    snapshot.edges[("user", "VIEWED", "item")] = snapshot.edges.pop(("user", "RATED", "item"))
    assert rating_threshold(snapshot) is None
    assert bool((interest_inputs(snapshot).strength > 0).all())


def test_item_ranking_trains_on_the_positive_ratings_only() -> None:
    """LightGCN's pairs (refresh, evaluation, engine.models.distributed) took every rated item as a
    positive, a one-star one too, while the interests left it out: one threshold for both."""
    snapshot = _rated([1.0, 2.0, 4.0, 5.0])
    views = EdgeSet(
        torch.zeros(1, dtype=torch.long),
        torch.tensor([0]),
        torch.ones(1),
        torch.full((1,), -1),
        torch.ones(1, dtype=torch.long),
    )
    snapshot.edges[("user", "VIEWED", "item")] = views  # a view of the one-star item counts
    assert interaction_pairs(snapshot)[1].tolist() == [0, 2, 3]
    assert interaction_pairs(snapshot, min_rating=0.0)[1].tolist() == [0, 1, 2, 3]
    assert interaction_pairs(snapshot, ["RATED"])[1].tolist() == [2, 3]


def test_an_incremental_run_keeps_the_full_runs_rating_threshold(tmp_path: Path) -> None:
    """A neighbourhood rated 4 and 5 has its own middle, 4.5: read alone, it would drop the
    4-star ratings the full run (on 1-5, middle 3) counted as interests."""
    full = with_rating_scale(PipelineConfig(), _rated([1.0, 2.0, 4.0, 5.0]))
    assert full.min_rating == pytest.approx(3.0)
    neighbourhood = _rated([4.0, 5.0])
    assert with_rating_scale(PipelineConfig(), neighbourhood).min_rating == pytest.approx(4.5)
    state = ModelState(
        [], [], torch.zeros(0, 1), torch.zeros(0), Segments(torch.zeros(0, 1), {}, []), "r",
        min_rating=full.min_rating, population={"c": 1.0},
    )  # fmt: skip
    again = ModelState.load(state.save(tmp_path / "state.pt"))  # kept with the state
    assert again.population == {"c": 1.0}
    assert with_rating_scale(PipelineConfig(), neighbourhood, again).min_rating == 3.0
    # a configured threshold wins over both
    configured = PipelineConfig(min_rating=2.0)
    assert with_rating_scale(configured, neighbourhood, again).min_rating == 2.0


def test_an_incremental_runs_prior_is_the_populations_not_its_neighbourhoods() -> None:
    """A cold user's interests are the prior alone. Over the population category a is the
    most popular; the neighbourhood an incremental run exports holds mostly b. The prior came
    from the neighbourhood (b first); now the full run keeps the population's shares."""
    from engine.dimensions.interests import (
        InterestModel,
        interest_scores,
        population_prior,
        population_shares,
    )

    population = _rated([5.0] * 6)
    population.edges[("item", "IN_CATEGORY", "category")].dst[:] = torch.tensor([0, 0, 0, 0, 1, 1])
    population.node_ids["category"] = ["a", "b"]
    model = InterestModel(social=0.0, prior=1.0)
    shares = population_shares(interest_inputs(population), model)
    assert shares["a"] > shares["b"]
    # the neighbourhood: a cold user (u1) and one who rated b's items
    neighbourhood = _rated([5.0, 5.0])
    neighbourhood.node_ids["user"] = ["u", "cold"]
    neighbourhood.node_ids["category"] = ["b", "a"]  # b first: another column order too
    inputs = interest_inputs(neighbourhood)
    own = torch.zeros(2, len(inputs.categories))
    own[0, inputs.categories.index("b")] = 2.0
    local = interest_scores(own, inputs, model)
    kept = interest_scores(own, inputs, model, population_prior(shares, inputs.categories))
    cold = 1
    assert inputs.categories[int(local[cold].argmax())] == "b"  # the neighbourhood's taste
    assert inputs.categories[int(kept[cold].argmax())] == "a"  # the population's
