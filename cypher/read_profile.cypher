// purpose: One user's whole profile, for `profilegraph profile USER_ID`: every profile_*
//          property (see core/profile_contract.py) but the embedding, the trails and the digests
//          (not_fields: graph/profiles.py names them from the contract), as [name, value] pairs,
//          so a new profile dimension needs no change here.
// mode: read
// params: user_id STRING, not_fields LIST<STRING> (1..100 property names)
// returns: user_id STRING, fields LIST<LIST>
MATCH (u:User {user_id: $user_id})
RETURN u.user_id AS user_id,
       [key IN keys(u) WHERE key STARTS WITH 'profile_'
                         AND NOT key IN $not_fields
        | [substring(key, 8), u[key]]] AS fields
