"""Task payloads: validated at the door, so a bad one fails at once with the field named."""

from __future__ import annotations

import uuid
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import PayloadError


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=BaseModel)


def new_run_id(mode: str) -> str:
    return f"{mode}-{uuid.uuid4().hex[:12]}"


# A run id names a folder under the state directory: no separators, no leading dot ("..").
RUN_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class RefreshRequest(_Payload):
    mode: Literal["full", "incremental"]
    run_id: str = Field(default="", pattern=r"^$|" + RUN_ID)
    source: Literal["cli", "beat", "api", "test"] = "api"
    max_epochs: int | None = Field(None, ge=1, le=100_000)

    def with_run_id(self) -> RefreshRequest:
        return self if self.run_id else self.model_copy(update={"run_id": new_run_id(self.mode)})


class StepPayload(_Payload):
    """What passes between the steps of a refresh: the run's whole state, never file paths
    (each step derives its files from the run id, see ``jobs.refresh.run_files``) and never
    tensors through the broker.

    ``watermark`` is the one ingest sequence number the run was planned at: the snapshot and
    every profile carry it. An incremental run also carries ``since``, the watermark of the run
    it continues; a missing ``since`` is an error, never "since the beginning".
    """

    run_id: str = Field(pattern=RUN_ID)
    mode: Literal["full", "incremental"]
    watermark: int = Field(ge=0)
    since: int | None = Field(None, ge=0)
    base_run_id: str = Field("", pattern=r"^$|" + RUN_ID)
    # a full run: the previous full run, whose exploration slots its lists carry on from
    previous_run_id: str = Field("", pattern=r"^$|" + RUN_ID)
    max_epochs: int | None = Field(None, ge=1, le=100_000)
    scored: bool = False  # a result file was written (False: nothing changed, nothing to write)

    @model_validator(mode="after")
    def _incremental_needs_its_base(self) -> StepPayload:
        if self.mode == "incremental" and (self.since is None or not self.base_run_id):
            raise ValueError(
                f"an incremental step needs since and base_run_id "
                f"(got since={self.since!r}, base_run_id={self.base_run_id!r})"
            )
        if self.mode == "full" and (self.since is not None or self.base_run_id):
            raise ValueError(
                f"a full step takes no since or base_run_id (got since={self.since!r})"
            )
        if self.since is not None and self.since > self.watermark:
            raise ValueError(f"since ({self.since}) is after the watermark ({self.watermark})")
        return self


class EvaluateRequest(_Payload):
    """Evaluate a completed run from its files; item ranking only when seeds are given, since
    it trains one model per seed and variant. The report goes to the run's own folder: a
    message names no path (a sender could otherwise make a worker write anywhere it may)."""

    run_id: str = Field(pattern=RUN_ID)
    item_ranking_seeds: list[int] = Field(default_factory=list, max_length=10)
    max_epochs: int = Field(100, ge=1, le=100_000)

    @field_validator("item_ranking_seeds")
    @classmethod
    def _seeds(cls, value: list[int]) -> list[int]:
        if any(not 0 <= seed < 2**31 for seed in value):
            raise ValueError("seeds must lie in [0, 2**31)")
        return value


class ConsumeKafkaRequest(_Payload):
    """``consume_kafka``'s arguments: a topic name (Kafka's rules) and the idle time that ends
    the drain."""

    topic: str = Field(pattern=r"^[A-Za-z0-9._-]{1,200}$")
    idle_s: float = Field(5.0, ge=0.5, le=3_600)


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
