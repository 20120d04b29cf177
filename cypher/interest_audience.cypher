// purpose: Users with a given interest at or above a weight, and the share of them that are
//          cold-start users (their interest comes mostly from friends, not their own history).
// analyst: yes
// mode: read
// params: category STRING, min_weight FLOAT = 0.0, limit INTEGER = 20
// bounds: min_weight 0..1, limit 1..10000
//   category: a category name, any case; min_weight: 0..1, the interest's share of the user's profile;
//   limit: how many users to list (the counts cover all of them)
// returns: user_id, weight, cold_start, audience (users matching), cold_share (of the audience)
// dp: count audience; mean cold_share 0..1; single
// example: profilegraph query interest_audience --param category=rock --param min_weight=0.2 --param limit=20
MATCH (:Category {name: toLower($category)})<-[r:INTERESTED_IN]-(u:User)
WHERE r.weight >= $min_weight
WITH u, r ORDER BY r.weight DESC, u.user_id
WITH collect({user_id: u.user_id, weight: r.weight, cold_start: u.profile_cold_start}) AS rows
WITH rows WHERE size(rows) > 0
WITH rows, toFloat(size([x IN rows WHERE x.cold_start])) / size(rows) AS cold_share
UNWIND rows[0..$limit] AS x
RETURN x.user_id AS user_id, x.weight AS weight, x.cold_start AS cold_start,
       size(rows) AS audience, cold_share
