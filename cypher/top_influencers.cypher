// purpose: The most influential users, overall or among those with a given top interest.
// mode: read
// params: category STRING (null for everyone), top INTEGER
// returns: user_id STRING, influence FLOAT, influence_rank INTEGER, interests LIST<STRING>,
//          segment_label STRING
MATCH (u:User)
WHERE u.profile_influence_rank IS NOT NULL
  AND ($category IS NULL OR $category IN u.profile_interests)
RETURN u.user_id AS user_id, u.profile_influence AS influence,
       u.profile_influence_rank AS influence_rank, u.profile_interests AS interests,
       u.profile_segment_label AS segment_label
ORDER BY u.profile_influence_rank
LIMIT $top
