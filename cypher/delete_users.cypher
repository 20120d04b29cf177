// purpose: Delete users with all their edges and their orders; their social neighbours count as
//          changed.
// mode: write
// params: rows LIST<MAP{user_id STRING}>, seq INTEGER
// returns: nothing
UNWIND $rows AS row
MATCH (u:User {user_id: row.user_id})
OPTIONAL MATCH (u)-[:FOLLOWS]-(friend:User)
SET friend.changed_seq = $seq
WITH DISTINCT u
OPTIONAL MATCH (u)-[:PLACED]->(o:Order)
DETACH DELETE o
WITH DISTINCT u
DETACH DELETE u
