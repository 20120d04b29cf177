"""Apply ``cypher/schema.cypher``: every statement is ``IF NOT EXISTS``, so this is idempotent.

``IF NOT EXISTS`` never updates an index that exists with other options, so a vector index whose
configuration no longer matches the file is dropped first and created again (Neo4j repopulates
it from the stored embeddings in the background; ``await_indexes`` waits for that).
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from typing import Any

from core.errors import ProfilegraphError
from graph.client import GraphClient, WriteSummary
from graph.queries import Query, load_query

_VECTOR_INDEX = re.compile(r"CREATE VECTOR INDEX (\w+)")
_CONFIG_ENTRY = re.compile(r"`(vector\.[\w.]+)`\s*:\s*('[^']*'|[\w.]+)")


def declared_vector_configs(statements: list[str]) -> dict[str, dict[str, str]]:
    """Vector index name -> its declared indexConfig entries, values as normalised text."""
    configs = {}
    for text in statements:
        if match := _VECTOR_INDEX.match(text):
            configs[match.group(1)] = {
                key: _normalise(value.strip("'")) for key, value in _CONFIG_ENTRY.findall(text)
            }
    return configs


def _normalise(value: Any) -> str:
    return str(value).lower()


def stale_vector_indexes(client: GraphClient) -> list[str]:
    """Existing vector indexes whose configuration differs from the schema file's."""
    declared = declared_vector_configs(load_query("schema").statements())
    stale = []
    for row in client.read("vector_indexes"):
        want = declared.get(row["name"])
        have = {key: _normalise(value) for key, value in (row["config"] or {}).items()}
        if want is not None and any(have.get(key) != value for key, value in want.items()):
            stale.append(row["name"])
    return stale


def apply_schema(client: GraphClient) -> WriteSummary:
    for name in stale_vector_indexes(client):
        # a name from SHOW INDEXES that is also declared in schema.cypher, never user input
        client.write(
            Query(
                name="drop_stale_vector_index", mode="write", text=f"DROP INDEX `{name}` IF EXISTS"
            )
        )
    return client.run_statements("schema")


_READY: weakref.WeakSet[GraphClient] = weakref.WeakSet()
_APPLYING = threading.Lock()
ATTEMPTS = 5


def ensure_schema(client: GraphClient) -> None:
    """Apply the schema once per client before its first write (every write entry point calls
    this): without the uniqueness constraints concurrent MERGEs create duplicate nodes, and
    without the indexes every write scans. Cheap after the first call.

    Writers that start together race to create the same rules; the loser sees "an equivalent
    rule already exists" or a lock conflict, so a failed attempt is tried again after a pause.
    """
    if client in _READY:
        return
    with _APPLYING:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                apply_schema(client)
                break
            except ProfilegraphError:
                if attempt == ATTEMPTS:
                    raise
                time.sleep(0.2 * attempt)
    _READY.add(client)
