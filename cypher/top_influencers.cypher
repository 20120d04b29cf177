// purpose: The most influential users, with the evidence: follower adoptions they triggered.
// analyst: yes
// mode: read
// params: top INTEGER = 10
// bounds: top 1..10000
//   top: how many users
// returns: influence_rank, user_id, influence (predicted follower adoptions in the coming period),
//          adoptions (follower adoptions triggered so far), followers, segment_label, interests
// example: profilegraph query top_influencers --param top=10
MATCH (u:User)
WHERE u.profile_influence_rank IS NOT NULL
WITH u ORDER BY u.profile_influence_rank, u.user_id LIMIT $top
RETURN u.profile_influence_rank AS influence_rank, u.user_id AS user_id,
       u.profile_influence AS influence, u.profile_adoptions AS adoptions,
       COUNT { (u)<-[:FOLLOWS]-(:User) } AS followers, u.profile_segment_label AS segment_label,
       u.profile_interests AS interests
ORDER BY influence_rank, user_id
