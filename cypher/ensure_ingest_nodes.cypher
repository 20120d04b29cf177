// purpose: Create the users, items and orders a batch names that do not exist yet, before the
//          ingest procedures (graph/plugin/IngestBatch.java), which only find them: MERGE under
//          the uniqueness constraints is what makes two writers creating one node safe. An
//          order is created with its first line's time and user (ingest_orders.cypher).
// mode: write
// params: users LIST<STRING> (distinct, sorted), items LIST<STRING> (distinct, sorted),
//         orders LIST<MAP{order_id STRING, user_id STRING, ts INTEGER}> (distinct order_id)
// returns: nothing
CALL () {
  UNWIND $users AS id
  MERGE (:User {user_id: id})
}
CALL () {
  UNWIND $items AS id
  MERGE (:Item {item_id: id})
}
CALL () {
  UNWIND $orders AS row
  MERGE (o:Order {order_id: row.order_id})
  ON CREATE SET o.ts = row.ts, o.user_id = row.user_id
}
