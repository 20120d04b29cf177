// purpose: Write the fields the online path recomputed after an event, in the ingest's own
//          transaction: the value fields, when and by what they were last updated
//          (profile_online_at, profile_online_fields, and the batch's change epoch
//          profile_online_epoch: a refresh whose watermark is older keeps the online values;
//          profile_digests cleared, so the next refresh writes the user whole),
//          and a bought item out of the user's
//          recommendations at once (its RECOMMENDED edge and its entry in
//          profile_recommendations). Profiled users who may be profiled only.
// mode: write
// params: consent_default BOOLEAN, now INTEGER (epoch ms), epoch INTEGER (change epoch),
//         rows LIST<MAP{user_id STRING, props MAP, fields LIST<STRING>, bought LIST<STRING>}>
//         (1..10000 rows)
// returns: written INTEGER
UNWIND $rows AS row
MATCH (u:User {user_id: row.user_id})
WHERE u.profile_run_id IS NOT NULL AND coalesce(u.profiling_consent, $consent_default)
SET u += row.props,
    u.profile_online_at = $now,
    u.profile_online_fields = row.fields,
    u.profile_online_epoch = $epoch,
    u.profile_digests = null,
    u.profile_recommendations = [i IN coalesce(u.profile_recommendations, [])
                                 WHERE NOT i IN row.bought]
WITH u, row
CALL {
  WITH u, row
  OPTIONAL MATCH (u)-[r:RECOMMENDED]->(i:Item)
  WHERE i.item_id IN row.bought
  DELETE r
}
RETURN count(u) AS written
