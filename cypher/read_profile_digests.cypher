// purpose: What Neo4j holds of one write batch's users, for the writer to send only what
//          changed (graph/writeback.py): each part's digest as last written, then the stored
//          embedding's, as two parallel lists in one row (a row per user cost the driver
//          about a third more to decode: bench.writeback's rerun_digested). A user without a
//          profile has an empty list; a user not in the graph is left out.
// mode: read
// params: users LIST<STRING> (1..100000 user ids: one write batch, PROFILEGRAPH_REFRESH__WRITE_BATCH_SIZE)
// returns: users LIST<STRING>, digests LIST<LIST<STRING>>
UNWIND $users AS id
MATCH (u:User {user_id: id})
RETURN collect(u.user_id) AS users, collect(coalesce(u.profile_digests, [])) AS digests
