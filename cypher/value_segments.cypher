// purpose: Value segments: users, revenue, mean CLV and mean P(active) per RFM segment (users
//          whose profile has one: buyers, or active users on data without orders).
// analyst: yes
// mode: read
// params: limit INTEGER = 20
// bounds: limit 1..100
//   limit: how many segments to list (by revenue)
// returns: segment, users, revenue (sum of total spend; 0 without amounts), mean_clv (null
//          without amounts), mean_probability_active
// dp: count users; mean mean_probability_active 0..1; keep segment
// example: profilegraph query value_segments --param limit=20
MATCH (u:User)
WHERE u.profile_rfm_segment IS NOT NULL
RETURN u.profile_rfm_segment AS segment, count(*) AS users,
       round(sum(coalesce(u.profile_total_spend, 0.0)), 2) AS revenue,
       round(avg(u.profile_clv), 2) AS mean_clv,
       round(avg(u.profile_probability_active), 3) AS mean_probability_active
ORDER BY revenue DESC, users DESC, segment
LIMIT $limit
