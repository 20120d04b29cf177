"""Run the analysts' queries (files in ``cypher/`` marked ``// analyst: yes``) safely.

Parameters arrive as text (``--param key=value``) and are converted to the types the file
declares in its ``// params: name TYPE, ...`` header; an unknown, missing or malformed parameter
is an error that names it. Queries run in a read transaction, so even a file that tried to write
would be refused by the server.
"""

from __future__ import annotations

import re
from typing import Any

from core.errors import QueryParameterError
from core.text import unsafe_characters
from graph.client import GraphClient
from graph.queries import Query, load_query, query_names

_PARAM = re.compile(
    r"(\w+)\s+(INTEGER|FLOAT|STRING|BOOLEAN|LIST<STRING>|LIST<INTEGER>)(?:\s*=\s*([^,\s]+))?"
)


def analyst_queries() -> list[Query]:
    queries = [load_query(name) for name in query_names()]
    return [q for q in queries if q.header.get("analyst") == "yes"]


def declared_params(query: Query) -> dict[str, str]:
    """Each parameter's type, from the header's ``params:`` line."""
    return {name: kind for name, kind, _ in _PARAM.findall(query.header.get("params", ""))}


def declared_defaults(query: Query) -> dict[str, str]:
    """The parameters with an obvious default (``top INTEGER = 10``), as text to parse."""
    return {name: text for name, _, text in _PARAM.findall(query.header.get("params", "")) if text}


_BOUND = re.compile(r"(\w+)\s+(-?[0-9.]+)\.\.(-?[0-9.]+)")
_INTEGER = re.compile(r"-?[0-9]{1,19}")  # ASCII digits only: no spaces, '_', or other scripts
_FLOAT = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
INT64 = (-(2**63), 2**63 - 1)
MAX_TEXT = 1_000  # characters of a STRING parameter, and of each list element
MAX_ITEMS = 1_000  # elements of a LIST parameter


def declared_bounds(query: Query) -> dict[str, tuple[float, float]]:
    """``// bounds: k 1..1000, limit 1..10000``: the allowed range of each number parameter."""
    return {
        name: (float(low), float(high))
        for name, low, high in _BOUND.findall(query.header.get("bounds", ""))
    }


def _integer(name: str, text: str) -> int:
    if not _INTEGER.fullmatch(text) or not INT64[0] <= int(text) <= INT64[1]:
        raise QueryParameterError(
            f"parameter {name!r} must be a whole number written in ASCII digits, within 64 bits "
            f"(found {text[:40]!r})"
        )
    return int(text)


def _number(name: str, text: str) -> float:
    if not _FLOAT.fullmatch(text):
        raise QueryParameterError(
            f"parameter {name!r} must be a decimal number (found {text[:40]!r})"
        )
    return float(text)


def _text(name: str, text: str) -> str:
    if len(text) > MAX_TEXT or unsafe_characters(text):
        raise QueryParameterError(
            f"parameter {name!r} must be at most {MAX_TEXT} characters without control "
            f"characters (found {len(text)} characters)"
        )
    return text


def _convert(name: str, kind: str, text: str) -> Any:
    if kind == "INTEGER":
        return _integer(name, text)
    if kind == "FLOAT":
        return _number(name, text)
    if kind == "BOOLEAN":
        if text.lower() not in ("true", "false"):
            raise QueryParameterError(f"parameter {name!r} must be true or false (found {text!r})")
        return text.lower() == "true"
    if kind.startswith("LIST<"):
        parts = [part for part in text.split(",") if part]
        if len(parts) > MAX_ITEMS:
            raise QueryParameterError(
                f"parameter {name!r} takes at most {MAX_ITEMS} values (found {len(parts)})"
            )
        one = _integer if kind == "LIST<INTEGER>" else _text
        return [one(name, part) for part in parts]
    return _text(name, text)


def _check_bounds(query: Query, name: str, value: Any) -> None:
    bounds = declared_bounds(query).get(name)
    if bounds is None:
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise QueryParameterError(f"query {query.name!r} declares no bounds for {name!r}")
        return
    low, high = bounds
    if not low <= value <= high:
        raise QueryParameterError(
            f"parameter {name!r} must lie in {low:g}..{high:g} (found {value!r})"
        )


def parse_params(query: Query, pairs: list[str]) -> dict[str, Any]:
    declared = declared_params(query)
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise QueryParameterError(f"parameter {pair!r} must look like key=value")
        if name not in declared:
            raise QueryParameterError(
                f"query {query.name!r} has no parameter {name!r} (it takes: {sorted(declared)})"
            )
        values[name] = _convert(name, declared[name], text)
        _check_bounds(query, name, values[name])
    for name, text in declared_defaults(query).items():
        if name not in values:
            values[name] = _convert(name, declared[name], text)
    missing = sorted(set(declared) - set(values))
    if missing:
        raise QueryParameterError(f"query {query.name!r} needs parameter(s) {missing}")
    return values


def run_analyst_query(
    client: GraphClient, name: str, pairs: list[str], *, timeout_s: float = 60.0
) -> list[dict[str, Any]]:
    """Run an analyst query with validated, bounded parameters in a read-only transaction that
    the server ends after ``timeout_s`` (a query cannot hold the database). Run once, never
    retried: a query that runs out of time or memory says so instead of running again."""
    query = load_query(name)
    if query.header.get("analyst") != "yes":
        names = [q.name for q in analyst_queries()]
        raise QueryParameterError(f"{name!r} is not an analyst query (analyst queries: {names})")
    return list(client.stream(query, timeout_s=timeout_s, **parse_params(query, pairs)))
