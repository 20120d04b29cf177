// purpose: What Neo4j holds of one write batch's users, for the writer to send only what
//          changed (graph/writeback.py): each part's digest as last written and the stored
//          embedding. A user without a profile returns nulls; a user not in the graph, no row.
// mode: read
// params: users LIST<STRING> (1..100000 user ids: one write batch, PROFILEGRAPH_REFRESH__WRITE_BATCH_SIZE)
// returns: user_id STRING, digests LIST<STRING>, embedding LIST<FLOAT>
UNWIND $users AS id
MATCH (u:User {user_id: id})
RETURN u.user_id AS user_id, u.profile_digests AS digests, u.profile_embedding AS embedding
