// purpose: The vector indexes and their configuration (schema apply rebuilds one whose
//          configuration differs from cypher/schema.cypher's).
// mode: read
// params: none
// returns: name STRING, config MAP (indexConfig, e.g. `vector.hnsw.ef_construction`)
SHOW VECTOR INDEXES YIELD name, options
RETURN name, options.indexConfig AS config
