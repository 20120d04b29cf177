// purpose: Add social edges (a friendship is two follows). Both ends count as changed.
// mode: write
// params: rows LIST<MAP{user_id STRING, target_user_id STRING, ts INTEGER?}>, seq INTEGER
// returns: nothing
UNWIND $rows AS row
MERGE (a:User {user_id: row.user_id})
MERGE (b:User {user_id: row.target_user_id})
MERGE (a)-[f:FOLLOWS]->(b)
ON CREATE SET f.ts = row.ts
SET a.changed_seq = $seq, b.changed_seq = $seq
