// purpose: Record order lines through the server-side procedure (graph/plugin/IngestBatch.java):
//          the effect of ingest_orders.cypher, as parallel columns. The users, items and orders
//          exist (ensure_ingest_nodes.cypher).
// mode: write
// params: users LIST<STRING>, items LIST<STRING>, orders LIST<STRING>, lines LIST<STRING>,
//         ts LIST<INTEGER>, amounts LIST<FLOAT?>, quantities LIST<INTEGER>; the lists of equal
//         length
// returns: applied INTEGER
CALL profilegraph.applyOrders($users, $items, $orders, $lines, $ts, $amounts, $quantities)
YIELD applied
RETURN applied
