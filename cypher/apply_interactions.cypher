// purpose: Apply user-item interactions through the server-side procedure
//          (graph/plugin/IngestBatch.java): the effect of ingest_interactions.cypher, as
//          parallel columns, one row per interaction. The users and items exist
//          (ensure_ingest_nodes.cypher).
// mode: write
// params: types LIST<STRING> (each from core/vocabulary.py's REL_TYPES),
//         users LIST<STRING>, items LIST<STRING>, ts LIST<INTEGER?>, weights LIST<FLOAT>,
//         counts LIST<INTEGER>, replace LIST<BOOLEAN>, seq INTEGER; the lists of equal length
// returns: applied INTEGER
CALL profilegraph.applyInteractions($types, $users, $items, $ts, $weights, $counts, $replace, $seq)
YIELD applied
RETURN applied
