"""Task payloads: validated at the door, so a bad one fails at once with the field named."""

from __future__ import annotations

import uuid
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class PayloadError(ValueError):
    """A task was given a payload that does not validate; never retried."""


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=BaseModel)


def new_run_id(mode: str) -> str:
    return f"{mode}-{uuid.uuid4().hex[:12]}"


RUN_ID = r"^[A-Za-z0-9_.:-]{1,64}$"


class RefreshRequest(_Payload):
    mode: Literal["full", "incremental"]
    run_id: str = Field(default="", pattern=r"^[A-Za-z0-9_.:-]{0,64}$")
    source: Literal["cli", "beat", "api", "test"] = "api"
    max_epochs: int | None = Field(None, ge=1, le=100_000)

    def with_run_id(self) -> RefreshRequest:
        return self if self.run_id else self.model_copy(update={"run_id": new_run_id(self.mode)})


class StepPayload(_Payload):
    """What passes between the steps of a refresh: files, never tensors through the broker."""

    run_id: str = Field(pattern=RUN_ID)
    mode: Literal["full", "incremental"]
    watermark: int = Field(ge=0)
    snapshot_path: str = ""
    result_path: str = ""
    base_run_id: str = ""
    max_epochs: int | None = Field(None, ge=1, le=100_000)


class EvaluateRequest(_Payload):
    """Evaluate a completed run from its files; item ranking only when seeds are given, since
    it trains one model per seed and variant."""

    run_id: str = Field(pattern=RUN_ID)
    item_ranking_seeds: list[int] = Field(default_factory=list, max_length=10)
    max_epochs: int = Field(100, ge=1, le=100_000)
    out_dir: str = Field("", max_length=1024, pattern=r"^[^\x00]*$")  # default: the run's folder

    @field_validator("item_ranking_seeds")
    @classmethod
    def _seeds(cls, value: list[int]) -> list[int]:
        if any(not 0 <= seed < 2**31 for seed in value):
            raise ValueError("seeds must lie in [0, 2**31)")
        return value


def validate(model: type[P], payload: object) -> P:
    """``model`` from a task argument; a :class:`PayloadError` naming each bad field."""
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']} "
            f"(got {e.get('input')!r})"
            for e in error.errors()
        )
        raise PayloadError(f"invalid {model.__name__}: {problems}") from None
