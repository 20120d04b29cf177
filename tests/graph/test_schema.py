"""Schema apply: idempotent, and a vector index with an outdated configuration is rebuilt."""

from __future__ import annotations

from graph.client import GraphClient
from graph.queries import Query, load_query
from graph.schema import apply_schema, declared_vector_configs, stale_vector_indexes

OLD_INDEX = Query(
    name="test_old_vector_index",
    mode="write",
    text="""
    CREATE VECTOR INDEX user_profile_embedding IF NOT EXISTS FOR (u:User) ON u.profile_embedding
    OPTIONS {indexConfig: {`vector.dimensions`: 64, `vector.similarity_function`: 'cosine'}}
    """,
)
DROP = Query(
    name="test_drop_vector_index", mode="write", text="DROP INDEX user_profile_embedding IF EXISTS"
)
SEED_USER = Query(
    name="test_seed_embedding",
    mode="write",
    text="""
    MERGE (u:User {user_id: 'schema-u1'})
    WITH u CALL db.create.setNodeVectorProperty(u, 'profile_embedding', $embedding)
    """,
)
NEAREST = Query(
    name="test_nearest",
    mode="read",
    text="""
    CALL db.index.vector.queryNodes('user_profile_embedding', 1, $embedding) YIELD node
    RETURN node.user_id AS user_id
    """,
)


def _config(client: GraphClient) -> dict[str, object]:
    rows = {row["name"]: row["config"] for row in client.read("vector_indexes")}
    return rows["user_profile_embedding"]


def test_declared_config_is_parsed_from_the_schema_file() -> None:
    declared = declared_vector_configs(load_query("schema").statements())
    assert declared["user_profile_embedding"]["vector.hnsw.ef_construction"] == "40"
    assert declared["user_profile_embedding"]["vector.quantization.enabled"] == "false"
    assert declared["user_profile_embedding"]["vector.similarity_function"] == "cosine"


def test_outdated_vector_index_is_rebuilt_and_keeps_the_embeddings(
    clean_graph: GraphClient,
) -> None:
    embedding = [float(k % 7) - 3.0 for k in range(64)]
    clean_graph.write(DROP)
    clean_graph.write(OLD_INDEX)  # as created before the configuration was tuned
    clean_graph.write(SEED_USER, embedding=embedding)
    assert _config(clean_graph)["vector.hnsw.ef_construction"] == 100
    assert stale_vector_indexes(clean_graph) == ["user_profile_embedding"]

    apply_schema(clean_graph)
    clean_graph.write("await_indexes")

    config = _config(clean_graph)
    assert config["vector.hnsw.ef_construction"] == 40
    assert config["vector.quantization.enabled"] is False
    assert stale_vector_indexes(clean_graph) == []
    assert clean_graph.read(NEAREST, embedding=embedding) == [{"user_id": "schema-u1"}]
    apply_schema(clean_graph)  # idempotent: nothing stale, nothing dropped
    assert stale_vector_indexes(clean_graph) == []
