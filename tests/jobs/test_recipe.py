"""One recipe per model: the engine's configs have no defaults that disagree with the settings.

An entry point that builds an engine config itself (``python -m jobs.distributed_training``, a
bench, a test) must train what a refresh trains; so every field that ``jobs.recipe`` fills from the
settings must default, in the engine, to what the default settings give it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch

from core.settings import Settings
from engine.dimensions.customer_profile import CustomerConfig
from engine.dimensions.next_steps import NextConfig
from engine.dimensions.recommendations import RecommendConfig
from engine.dimensions.value import ValueConfig, _discounted_purchases
from engine.evaluation.snapshot_evaluation import EvaluationConfig
from engine.models.next_behaviour import SequenceConfig
from engine.models.train import TrainConfig
from engine.pipeline import PipelineConfig
from jobs import recipe


def _differences(built: Any, default: Any, path: str = "") -> list[str]:
    """Each field (recursing into nested configs) where the two configs disagree."""
    out = []
    for f in dataclasses.fields(built):
        a, b = getattr(built, f.name), getattr(default, f.name)
        if dataclasses.is_dataclass(a):
            out += _differences(a, b, f"{path}{f.name}.")
        elif a != b:
            out.append(f"{path}{f.name}: settings give {a!r}, the engine's default is {b!r}")
    return out


@pytest.mark.parametrize(
    ("name", "built", "default"),
    [
        ("train", lambda s: recipe.train_config(s), TrainConfig),
        ("next", lambda s: recipe.next_config(s), NextConfig),
        ("pipeline", lambda s: recipe.pipeline_config(s), PipelineConfig),
        (
            "evaluation",
            lambda s: recipe.evaluation_config(
                s, item_ranking_seeds=(), max_epochs=s.refresh.max_epochs
            ),
            EvaluationConfig,
        ),
    ],
)
def test_engine_defaults_are_the_settings_defaults(name: str, built: Any, default: Any) -> None:
    assert _differences(built(Settings()), default()) == [], name


def test_a_changed_setting_reaches_every_config_that_reads_it() -> None:
    """The recipe reads the settings (not only agrees with them by chance)."""
    changed = Settings.model_validate(
        {
            "training": {"lr": 0.02, "patience": 3, "min_rating": 6.0},
            "value": {"horizon_weeks": 4.0},
            "next": {"sequence_epochs": 7},
        }
    )
    pipeline = recipe.pipeline_config(changed)
    assert (pipeline.train.lr, pipeline.train.patience, pipeline.min_rating) == (0.02, 3, 6.0)
    assert pipeline.next.sequence.max_epochs == 7
    evaluation = recipe.evaluation_config(changed, item_ranking_seeds=(), max_epochs=5)
    assert evaluation.churn_horizon_days == 28.0 and evaluation.min_rating == 6.0
    assert isinstance(pipeline.next.recommend, RecommendConfig)
    assert isinstance(pipeline.next.sequence, SequenceConfig)


def test_a_yearly_discount_compounds_to_itself() -> None:
    """10 % a year discounts a purchase a year ahead by 1 / 1.10, not 1 / 1.105."""
    config = CustomerConfig(annual_discount=0.10).value_config()
    assert (1 + config.discount_per_unit) ** 52 == pytest.approx(1.10, rel=1e-12)
    assert (1 + ValueConfig().discount_per_unit) ** 52 == pytest.approx(1.10, rel=1e-12)

    class OneAYear:  # one purchase, made at the end of week 52
        def expected_purchases(self, s: Any, t: float) -> torch.Tensor:
            return torch.ones_like(s.x) * float(t >= 52)

    class Summary:
        x = torch.zeros(1, dtype=torch.float64)

    value = _discounted_purchases(OneAYear(), Summary(), config)  # type: ignore[arg-type]
    assert float(value) == pytest.approx(1 / 1.10, rel=1e-9)


@pytest.mark.parametrize("config", [TrainConfig, SequenceConfig])
def test_both_trained_models_share_one_schedule_and_its_checks(config: type) -> None:
    """One base for the fields every trained model has (lr, batch, epochs, patience, seed,
    device, budget, validation users), checked once; each error names the class and field."""
    from engine.models.schedule import Schedule

    assert issubclass(config, Schedule)
    with pytest.raises(ValueError, match=rf"{config.__name__} needs lr > 0"):
        config(lr=0.0)
    with pytest.raises(ValueError, match=rf"{config.__name__}.batch_size must be at least 1"):
        config(batch_size=0)
    with pytest.raises(ValueError, match=rf"{config.__name__}.time_budget_s must be positive"):
        config(time_budget_s=0.0)
