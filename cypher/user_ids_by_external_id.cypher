// purpose: Internal ids for external user ids (unknown ids are skipped).
// mode: read
// params: user_ids LIST<STRING>
// returns: ids LIST<INTEGER>
UNWIND $user_ids AS uid
MATCH (u:User {user_id: uid})
RETURN collect(id(u)) AS ids
