// purpose: What the online path reads of customers an ingest transaction just touched: their
//          orders (time, amount), their latest action's time and the churn probability the
//          last refresh stored. Only profiled users who may be profiled come back (an erased
//          user has no node; a user without consent is left alone, as the writer does).
// mode: read
// params: users LIST<STRING> (1..10000 user ids), consent_default BOOLEAN
// returns: user_id, order_ts LIST<INTEGER>, order_amounts LIST<FLOAT?>, last_action_ms
//          INTEGER?, churn_probability FLOAT?
UNWIND $users AS id
MATCH (u:User {user_id: id})
WHERE u.profile_run_id IS NOT NULL AND coalesce(u.profiling_consent, $consent_default)
CALL {
  WITH u
  OPTIONAL MATCH (u)-[:PLACED]->(o:Order)
  RETURN collect(o.ts) AS order_ts, collect(o.amount) AS order_amounts
}
CALL {
  WITH u
  OPTIONAL MATCH (u)-[r:VIEWED|CLICKED|CARTED|FAVOURITED|PURCHASED|RATED|REVIEWED|LISTENED|TAGGED]->(:Item)
  RETURN max(r.ts) AS last_action_ms
}
RETURN u.user_id AS user_id, order_ts, order_amounts, last_action_ms,
       u.profile_churn_probability AS churn_probability
