"""Apply ``cypher/schema.cypher``: every statement is ``IF NOT EXISTS``, so this is idempotent."""

from __future__ import annotations

from graph.client import GraphClient, WriteSummary


def apply_schema(client: GraphClient) -> WriteSummary:
    return client.run_statements("schema")
