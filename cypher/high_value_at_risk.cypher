// purpose: High value at risk: the users with the highest predicted CLV among those at risk
//          (lifecycle stage "at risk", or a churn probability at or above min_churn).
// analyst: yes
// mode: read
// params: min_churn FLOAT = 0.5, top INTEGER = 20
// bounds: min_churn 0..1, top 1..1000
//   min_churn: churn probability that counts as at risk; top: how many users
// returns: user_id, clv, churn_probability, lifecycle_stage, value_explanation, churn_explanation
// example: profilegraph query high_value_at_risk --param min_churn=0.5 --param top=20
MATCH (u:User)
WHERE u.profile_clv > 0
  AND (u.profile_lifecycle_stage = 'at risk' OR u.profile_churn_probability >= $min_churn)
RETURN u.user_id AS user_id, u.profile_clv AS clv, u.profile_churn_probability AS churn_probability,
       u.profile_lifecycle_stage AS lifecycle_stage, u.profile_value_explanation AS value_explanation,
       u.profile_churn_explanation AS churn_explanation
ORDER BY clv DESC, user_id
LIMIT $top
