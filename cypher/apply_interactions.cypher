// purpose: Apply user-item interactions of one type through the server-side procedure
//          (graph/plugin/ApplyInteractions.java): the effect of ingest_interactions.cypher, as
//          parallel columns. The users and items exist (ensure_interaction_nodes.cypher).
// mode: write
// params: type STRING (from the allow-list REL_TYPES), users LIST<STRING>, items LIST<STRING>,
//         ts LIST<INTEGER?>, weights LIST<FLOAT>, counts LIST<INTEGER>, replace BOOLEAN,
//         seq INTEGER; the lists of equal length
// returns: applied INTEGER
CALL profilegraph.applyInteractions($type, $users, $items, $ts, $weights, $counts, $replace, $seq)
YIELD applied
RETURN applied
