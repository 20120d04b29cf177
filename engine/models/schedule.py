"""What every trained model's config holds, and checks once: the optimiser's step, the epochs
and when to stop, the wall-clock budget, the device and the seed.

:class:`engine.models.train.TrainConfig` (LightGCN) and
:class:`engine.models.next_behaviour.SequenceConfig`
(the sequence model) extend it with their own fields and defaults; their defaults are the
refresh's (``jobs.recipe`` builds both from the settings, ``tests/jobs/test_recipe.py`` keeps
them equal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from engine.evaluation.metrics import VALID_USERS


@dataclass(frozen=True)
class Schedule:
    lr: float = 1e-3
    batch_size: int = 256
    weight_decay: float = 0.0
    max_epochs: int = 20
    patience: int = 4
    seed: int = 0
    device: str = "auto"
    # no new epoch (or batch) starts past this many seconds; the best validation state is
    # kept. None: no budget
    time_budget_s: float | None = None
    # validation on at most this many users (a seeded sample; None: all of them)
    valid_users: int | None = VALID_USERS

    # fields that must be at least 1: a zero fails deep inside a tensor op otherwise
    COUNTS: ClassVar[tuple[str, ...]] = ("batch_size",)

    def __post_init__(self) -> None:
        name = type(self).__name__
        for field in self.COUNTS:
            if getattr(self, field) < 1:
                raise ValueError(f"{name}.{field} must be at least 1, got {getattr(self, field)}")
        if self.lr <= 0 or self.weight_decay < 0 or self.patience < 0 or self.max_epochs < 0:
            raise ValueError(
                f"{name} needs lr > 0, weight_decay >= 0, patience >= 0 and max_epochs >= 0, "
                f"got lr={self.lr}, weight_decay={self.weight_decay}, "
                f"patience={self.patience}, max_epochs={self.max_epochs}"
            )
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise ValueError(
                f"{name}.time_budget_s must be positive or None, got {self.time_budget_s}"
            )
