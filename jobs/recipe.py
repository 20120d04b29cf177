"""The one place where settings become the engine's configuration (the training recipe)."""

from __future__ import annotations

from core.settings import Settings
from engine.dimensions.customer_profile import CustomerConfig
from engine.dimensions.next_steps import NextConfig
from engine.dimensions.recommendations import RecommendConfig
from engine.dimensions.review_text import TextConfig
from engine.evaluation.snapshot_evaluation import EvaluationConfig
from engine.models.next_behaviour import SequenceConfig
from engine.models.train import TrainConfig
from engine.pipeline import PipelineConfig


def train_config(settings: Settings, max_epochs: int | None = None) -> TrainConfig:
    """The refresh's training recipe; ``max_epochs`` (a request's override) caps the epochs."""
    training = settings.training
    return TrainConfig(
        max_epochs=max_epochs or settings.refresh.max_epochs,
        patience=training.patience,
        warm_patience=training.warm_patience,
        eval_every=training.eval_every,
        lr=training.lr,
        device=training.device,
        seed=training.seed,
        time_budget_s=training.time_budget_s or None,
        ranks=training.ranks,
    )


def pipeline_config(settings: Settings, max_epochs: int | None = None) -> PipelineConfig:
    return PipelineConfig(
        train=train_config(settings, max_epochs),
        finetune_epochs=settings.refresh.finetune_epochs,
        influence_window_days=settings.training.influence_window_days,
        min_rating=settings.training.min_rating,
        customer=CustomerConfig(
            horizon_weeks=settings.value.horizon_weeks,
            clv_weeks=settings.value.clv_weeks,
            annual_discount=settings.value.annual_discount,
        ),
        next=next_config(settings, max_epochs),
    )


def next_config(settings: Settings, max_epochs: int | None = None) -> NextConfig:
    """Next behaviour and lists; ``max_epochs`` (a request's override) caps the epochs too."""
    n = settings.next
    epochs = min(n.sequence_epochs, max_epochs) if max_epochs else n.sequence_epochs
    return NextConfig(
        sequence=SequenceConfig(
            length=n.sequence_length,
            max_epochs=epochs,
            time_budget_s=n.sequence_time_budget_s or None,
            device=settings.training.device,
            seed=settings.training.seed,
        ),
        recommend=RecommendConfig(
            n=n.recommendations, explore_share=n.explore_share, seed=settings.training.seed
        ),
    )


def evaluation_config(
    settings: Settings, *, item_ranking_seeds: tuple[int, ...], max_epochs: int
) -> EvaluationConfig:
    return EvaluationConfig(
        item_ranking_seeds=item_ranking_seeds,
        influence_window_days=settings.training.influence_window_days,
        min_rating=settings.training.min_rating,
        churn_horizon_days=settings.value.horizon_weeks * 7,  # the horizon churn ships with
        train=train_config(settings, max_epochs),
    )


def text_config(settings: Settings) -> TextConfig:
    """How review text becomes numbers: the keyword vocabulary's privacy floor, the seed."""
    return TextConfig(min_writers=settings.privacy.keyword_min_writers, seed=settings.training.seed)
