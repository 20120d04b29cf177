"""Task payloads: validated at the door, so a bad one fails at once with the field named."""

from __future__ import annotations

import uuid
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class PayloadError(ValueError):
    """A task was given a payload that does not validate; never retried."""


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


P = TypeVar("P", bound=BaseModel)


def new_run_id(mode: str) -> str:
    return f"{mode}-{uuid.uuid4().hex[:12]}"


class RefreshRequest(_Payload):
    mode: Literal["full", "incremental"]
    run_id: str = Field(default="", pattern=r"^[A-Za-z0-9_.:-]{0,64}$")
    source: Literal["cli", "beat", "api", "test"] = "api"
    max_epochs: int | None = Field(None, ge=1, le=100_000)

    def with_run_id(self) -> RefreshRequest:
        return self if self.run_id else self.model_copy(update={"run_id": new_run_id(self.mode)})


class StepPayload(_Payload):
    """What passes between the steps of a refresh: files, never tensors through the broker."""

    run_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    mode: Literal["full", "incremental"]
    watermark: int = Field(ge=0)
    snapshot_path: str = ""
    result_path: str = ""
    base_run_id: str = ""
    max_epochs: int | None = Field(None, ge=1, le=100_000)


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
