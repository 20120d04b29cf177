// purpose: Customers the online path moved in the last N minutes whose lifecycle stage is no
//          longer the one their last refresh gave (read from profile_stage_trail): who just
//          became active again, who slipped to at risk, with their value now. Starts from the
//          index on profile_online_at, so it reads only the users updated in the window.
// analyst: yes
// mode: read
// params: minutes INTEGER = 60, limit INTEGER = 100
// bounds: minutes 1..10080, limit 1..10000
//   minutes: how far back the online updates go; limit: how many users, latest first
// returns: user_id, stage_at_run, stage_now, moved_at (epoch ms), clv, recency_days
// example: profilegraph query online_moves --param minutes=15
MATCH (u:User)
WHERE u.profile_online_at >= timestamp() - $minutes * 60000
WITH u, split(coalesce(u.profile_stage_trail, [''])[0], '\u001F') AS last_run
WITH u, CASE WHEN size(last_run) > 1 AND last_run[1] <> '' THEN last_run[1] END AS stage_at_run
WHERE stage_at_run IS NULL OR stage_at_run <> u.profile_lifecycle_stage
RETURN u.user_id AS user_id, stage_at_run, u.profile_lifecycle_stage AS stage_now,
       u.profile_online_at AS moved_at, u.profile_clv AS clv,
       u.profile_recency_days AS recency_days
ORDER BY moved_at DESC, user_id
LIMIT $limit
