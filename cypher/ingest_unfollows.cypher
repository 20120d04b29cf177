// purpose: Remove social edges; unknown pairs are ignored (unfollowing twice is a no-op).
// mode: write
// params: rows LIST<MAP{user_id STRING, target_user_id STRING}>, seq INTEGER
// returns: nothing
UNWIND $rows AS row
MATCH (a:User {user_id: row.user_id})-[f:FOLLOWS]->(b:User {user_id: row.target_user_id})
DELETE f
SET a.changed_seq = $seq, b.changed_seq = $seq
