// purpose: Record purchase occasions: each timed purchase is a line of an order (its order_id,
//          or an order of its own). Lines are keyed by the event that made them, so a replay
//          changes nothing; the order's time is its earliest line's and its amount the sum of
//          its lines' amounts (null while no line has one). Runs after the interactions, so the
//          user and the item exist.
// mode: write
// params: rows LIST<MAP{user_id, item_id, order_id, line_id STRING, ts INTEGER (epoch ms),
//         amount FLOAT?, quantity INTEGER}>, seq INTEGER
// returns: nothing
UNWIND $rows AS row
MATCH (u:User {user_id: row.user_id})
MATCH (i:Item {item_id: row.item_id})
MERGE (o:Order {order_id: row.order_id})
ON CREATE SET o.ts = row.ts, o.user_id = row.user_id
SET o.ts = CASE WHEN row.ts < o.ts THEN row.ts ELSE o.ts END
MERGE (u)-[:PLACED]->(o)
MERGE (o)-[c:CONTAINS {line_id: row.line_id}]->(i)
SET c.quantity = row.quantity, c.amount = row.amount
WITH DISTINCT o
CALL {
  WITH o
  MATCH (o)-[c:CONTAINS]->()
  RETURN sum(c.amount) AS total, count(c.amount) AS priced
}
SET o.amount = CASE WHEN priced > 0 THEN total END
