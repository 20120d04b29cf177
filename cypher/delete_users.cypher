// purpose: Erase users (the right to be forgotten): the user with all their edges (interactions,
//          follows both ways, profile edges) and their orders; their id leaves the interest
//          explanations of the users who follow them, and every dead letter that names them
//          goes (whether or not the user exists). Their social neighbours count as changed.
// mode: write
// params: rows LIST<MAP{user_id STRING}>, seq INTEGER
// returns: nothing
UNWIND $rows AS row
CALL (row) {
  MATCH (r:RejectedEvent)
  WHERE r.value = row.user_id OR row.user_id IN coalesce(r.mentions, [])
        OR r.raw CONTAINS ('"' + row.user_id + '"') OR r.raw CONTAINS ("'" + row.user_id + "'")
  DELETE r
}
WITH row
MATCH (u:User {user_id: row.user_id})
CALL (u) {
  MATCH (u)<-[:FOLLOWS]-(:User)-[r:INTERESTED_IN]->()
  WHERE u.user_id IN r.friends
  SET r.friends = [f IN r.friends WHERE f <> u.user_id]
}
OPTIONAL MATCH (u)-[:FOLLOWS]-(friend:User)
SET friend.changed_seq = $seq
WITH DISTINCT u
OPTIONAL MATCH (u)-[:PLACED]->(o:Order)
DETACH DELETE o
WITH DISTINCT u
DETACH DELETE u
