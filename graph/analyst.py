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
from graph.client import GraphClient
from graph.queries import Query, load_query, query_names

_PARAM = re.compile(r"(\w+)\s+(INTEGER|FLOAT|STRING|BOOLEAN|LIST<STRING>|LIST<INTEGER>)")


def analyst_queries() -> list[Query]:
    queries = [load_query(name) for name in query_names()]
    return [q for q in queries if q.header.get("analyst") == "yes"]


def declared_params(query: Query) -> dict[str, str]:
    return dict(_PARAM.findall(query.header.get("params", "")))


def _convert(name: str, kind: str, text: str) -> Any:
    try:
        if kind == "INTEGER":
            return int(text)
        if kind == "FLOAT":
            return float(text)
        if kind == "BOOLEAN":
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        if kind == "LIST<STRING>":
            return [part for part in text.split(",") if part]
        if kind == "LIST<INTEGER>":
            return [int(part) for part in text.split(",") if part]
        return text
    except ValueError:
        raise QueryParameterError(f"parameter {name!r} must be {kind} (found {text!r})") from None


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
    missing = sorted(set(declared) - set(values))
    if missing:
        raise QueryParameterError(f"query {query.name!r} needs parameter(s) {missing}")
    return values


def run_analyst_query(client: GraphClient, name: str, pairs: list[str]) -> list[dict[str, Any]]:
    query = load_query(name)
    if query.header.get("analyst") != "yes":
        names = [q.name for q in analyst_queries()]
        raise QueryParameterError(f"{name!r} is not an analyst query (analyst queries: {names})")
    return client.read(query, **parse_params(query, pairs))
