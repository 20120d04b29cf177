// purpose: Explore candidates for one user: categories their followees are into and they have
//          shown nothing of yet - interests to test (the higher their uncertainty, the more
//          worth testing).
// analyst: yes
// mode: read
// params: user_id STRING
// returns: position, category, followees_interested, mean_followee_weight, uncertainty
// example: profilegraph query explore_candidates --param user_id=2
MATCH (u:User {user_id: $user_id})
UNWIND range(0, size(coalesce(u.profile_explore, [])) - 1) AS position
MATCH (c:Category {name: u.profile_explore[position]})
OPTIONAL MATCH (u)-[:FOLLOWS]->(:User)-[r:INTERESTED_IN]->(c)
RETURN position + 1 AS position, c.name AS category, count(r) AS followees_interested,
       avg(r.weight) AS mean_followee_weight, u.profile_uncertainty AS uncertainty
ORDER BY position
