// purpose: The stored embeddings of the users whose new embedding's digest differs from the
//          stored one's (graph/writeback.py compares them to EMBEDDING_TOLERANCE), as two
//          parallel lists in one row; a user without a stored embedding is left out.
// mode: read
// params: users LIST<STRING> (1..100000 user ids: part of one write batch)
// returns: users LIST<STRING>, embeddings LIST<LIST<FLOAT>>
UNWIND $users AS id
MATCH (u:User {user_id: id})
WHERE u.profile_embedding IS NOT NULL
RETURN collect(u.user_id) AS users, collect(u.profile_embedding) AS embeddings
