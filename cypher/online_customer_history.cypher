// purpose: What the online path reads of customers an ingest transaction just touched: their
//          orders (time, amount), their latest action's time, the churn probability the last
//          refresh stored, and for an online churn probability the action times an export
//          keeps (each edge's latest and first time; the UTC days of the latest per_user
//          logged times: as export_interactions and export_actions read them, the churn
//          features read days) and each followee's latest
//          action time (-1: none; followees an export would leave out are left out). Only
//          profiled users who may be profiled come back (an erased user has no node; a user
//          without consent is left alone, as the writer does).
// mode: read
// params: users LIST<STRING> (1..10000 user ids), consent_default BOOLEAN,
//         context BOOLEAN (unconsented users exported as context), per_user INTEGER,
//         churn BOOLEAN (false: the edge times, log days and followees are not read: empty)
// bounds: per_user 1..100000
// returns: user_id, order_ts LIST<INTEGER>, order_amounts LIST<FLOAT?>, last_action_ms
//          INTEGER?, churn_probability FLOAT?, edge_ts LIST<INTEGER>, log_days LIST<INTEGER>,
//          followee_last_ms LIST<INTEGER>
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
  WITH max(r.ts) AS last_action_ms, collect(r) AS rels
  RETURN last_action_ms,
         CASE WHEN $churn THEN [x IN rels | x.ts] + [x IN rels | coalesce(x.first_ts, x.ts)]
              ELSE [] END AS edge_ts
}
CALL {
  WITH u
  WITH u WHERE $churn
  OPTIONAL MATCH (u)-[r:VIEWED|CLICKED|CARTED|FAVOURITED|PURCHASED|RATED|REVIEWED|LISTENED|TAGGED]->(:Item)
  UNWIND coalesce(r.times, CASE WHEN r.ts IS NULL THEN [] ELSE [r.ts] END) AS t
  WITH t ORDER BY t DESC LIMIT $per_user
  RETURN collect(DISTINCT t / 86400000) AS log_days
}
CALL {
  WITH u
  OPTIONAL MATCH (u)-[:FOLLOWS]->(f:User)
  WHERE $churn AND ($context OR coalesce(f.profiling_consent, $consent_default))
  CALL {
    WITH f
    OPTIONAL MATCH (f)-[r:VIEWED|CLICKED|CARTED|FAVOURITED|PURCHASED|RATED|REVIEWED|LISTENED|TAGGED]->(:Item)
    RETURN coalesce(max(r.ts), -1) AS last
  }
  RETURN [x IN collect(CASE WHEN f IS NULL THEN null ELSE last END) WHERE x IS NOT NULL]
         AS followee_last_ms
}
RETURN u.user_id AS user_id, order_ts, order_amounts, last_action_ms,
       u.profile_churn_probability AS churn_probability, edge_ts, log_days, followee_last_ms
