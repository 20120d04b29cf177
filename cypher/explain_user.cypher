// purpose: Explain one user's profile: each top interest with the interactions and friends that
//          contribute most to it, and the follower adoptions of it the user triggered.
// analyst: yes
// mode: read
// params: user_id STRING
// returns: rank, interest, weight, items (the user's own interactions, by name where known),
//          friends (followees into it), adoptions, run_id
// example: profilegraph query explain_user --param user_id=2
MATCH (:User {user_id: $user_id})-[r:INTERESTED_IN]->(c:Category)
RETURN r.rank AS rank, c.name AS interest, r.weight AS weight,
       [id IN r.items | COLLECT { MATCH (i:Item {item_id: id}) RETURN coalesce(i.name, id) }[0]]
         AS items,
       r.friends AS friends, r.adoptions AS adoptions, r.run_id AS run_id
ORDER BY rank
