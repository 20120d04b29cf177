"""Every driver exception we catch maps to a profilegraph error; nothing is swallowed."""

from __future__ import annotations

import inspect

import pytest
from neo4j import exceptions as neo

from core.errors import AuthenticationFailed, ProfilegraphError, ServiceUnavailable
from graph import errors

DRIVER_ERRORS = [
    cls
    for _, cls in inspect.getmembers(neo, inspect.isclass)
    if issubclass(cls, (neo.Neo4jError, neo.DriverError))
]


def _instance(cls: type[Exception]) -> Exception:
    return cls("boom")


@pytest.mark.parametrize("cls", DRIVER_ERRORS, ids=lambda c: c.__name__)
def test_every_driver_exception_is_mapped(cls: type[Exception]) -> None:
    exc = _instance(cls)
    assert isinstance(exc, errors.CAUGHT)
    mapped = errors.translate(exc, query="q_name", params=["a", "b"])
    assert isinstance(mapped, ProfilegraphError)
    assert "q_name" in str(mapped) and "a, b" in str(mapped)


@pytest.mark.parametrize(
    ("driver", "ours"),
    [
        (neo.AuthError, AuthenticationFailed),
        (neo.ServiceUnavailable, ServiceUnavailable),
        (neo.CypherSyntaxError, errors.QuerySyntaxError),
        (neo.ConstraintError, errors.ConstraintViolation),
        (neo.TransientError, errors.TransientGraphError),
    ],
)
def test_specific_mappings(driver: type[Exception], ours: type[Exception]) -> None:
    assert type(errors.translate(_instance(driver), query="q")) is ours


def test_only_transient_errors_are_marked_retryable() -> None:
    assert errors.TransientGraphError.transient and ServiceUnavailable.transient
    assert not errors.QueryError.transient and not AuthenticationFailed.transient


def test_mapped_errors_chains_the_original() -> None:
    original = neo.ServiceUnavailable("down")
    with pytest.raises(ServiceUnavailable) as info, errors.mapped_errors("q"):
        raise original
    assert info.value.__cause__ is original
