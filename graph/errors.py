"""Neo4j driver errors, mapped at one boundary into profilegraph's hierarchy.

The classes live in ``core.errors`` (the whole tree is drawn there); this module only maps
the driver's exceptions onto them.

Messages name the query file and the parameter *names* (never values, which may be large or
private) and say what to do next. The original driver exception is chained with ``from``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from neo4j import exceptions as neo

from core.errors import (
    AuthenticationFailed,
    AuthenticationRateLimited,
    ConstraintViolation,
    DatabaseError,
    GraphError,
    ProfilegraphError,
    QueryError,
    QuerySyntaxError,
    ServiceUnavailable,
    TransientGraphError,
)

# Most specific first: the first matching row wins.
_MAP: tuple[tuple[type[Exception], type[ProfilegraphError], str], ...] = (
    (
        neo.AuthError,
        AuthenticationFailed,
        "check PROFILEGRAPH_NEO4J__PASSWORD / the local env file",
    ),
    (neo.CypherSyntaxError, QuerySyntaxError, "fix the query file"),
    (neo.ConstraintError, ConstraintViolation, "the data breaks a schema constraint"),
    (neo.ClientError, QueryError, "check the query and its parameters"),
    (neo.TransientError, TransientGraphError, "retry later"),
    (neo.DatabaseError, DatabaseError, "read the server log: profilegraph services logs"),
    (neo.ServiceUnavailable, ServiceUnavailable, "is Neo4j running? profilegraph services up"),
    (neo.SessionExpired, ServiceUnavailable, "the connection dropped; retry"),
    (neo.Neo4jError, GraphError, "unexpected server error"),
    (neo.DriverError, GraphError, "unexpected driver error"),
)

CAUGHT: tuple[type[Exception], ...] = tuple(row[0] for row in _MAP)


RATE_LIMIT = "Neo.ClientError.Security.AuthenticationRateLimit"


def translate(exc: Exception, *, query: str, params: Iterable[str] = ()) -> ProfilegraphError:
    """The profilegraph error for a driver exception (``exc`` must be one of ``CAUGHT``)."""
    if getattr(exc, "code", None) == RATE_LIMIT:  # the driver files it as a plain ClientError
        return AuthenticationRateLimited(
            f"{query}: Neo4j refuses logins for this user after repeated failed attempts (by "
            "any local process); the lock lifts after dbms.security.auth_lock_time (retrying)"
        )
    for driver_type, ours, hint in _MAP:
        if isinstance(exc, driver_type):
            names = ", ".join(sorted(params)) or "none"
            code = getattr(exc, "code", None) or type(exc).__name__
            message = getattr(exc, "message", None) or str(exc)
            where = "; ".join(getattr(exc, "__notes__", ()))  # the query inside a transaction
            where = f" [{where}]" if where else ""
            return ours(f"{query} (parameters: {names}){where}: {code}: {message} ({hint})")
    raise TypeError(f"not a driver error: {type(exc).__name__}")


@contextmanager
def mapped_errors(query: str, params: Iterable[str] = ()) -> Iterator[None]:
    """Re-raise driver errors inside the block as profilegraph errors."""
    try:
        yield
    except CAUGHT as exc:
        raise translate(exc, query=query, params=params) from exc
