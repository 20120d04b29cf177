// purpose: One user's recommendation list, in rank order, with the kind of each slot
//          (exploit: the best-scored items; explore: a category new to them) and its reason.
// analyst: yes
// mode: read
// params: user_id STRING
//   user_id: the user's external id
// returns: rank, item_id, kind, score, category, reason
// example: profilegraph query recommendations_for_user --param user_id=2
MATCH (u:User {user_id: $user_id})-[r:RECOMMENDED]->(i:Item)
RETURN r.rank AS rank, i.item_id AS item_id, r.kind AS kind, r.score AS score,
       r.category AS category, r.reason AS reason
ORDER BY rank
