// purpose: Add social edges through the server-side procedure (graph/plugin/IngestBatch.java):
//          the effect of ingest_follows.cypher, as parallel columns. The users exist
//          (ensure_ingest_nodes.cypher).
// mode: write
// params: users LIST<STRING>, targets LIST<STRING>, ts LIST<INTEGER?>, seq INTEGER; the lists
//         of equal length
// returns: applied INTEGER
CALL profilegraph.applyFollows($users, $targets, $ts, $seq)
YIELD applied
RETURN applied
