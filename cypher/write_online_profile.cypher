// purpose: Write the fields the online path recomputed after an event, in the ingest's own
//          transaction: the fields (value, churn, next behaviour), when and by what they were
//          last updated (profile_online_at; profile_online_fields, the fields set online since
//          the user's last refresh, those of earlier updates kept until a refresh; the batch's change epoch profile_online_epoch: a refresh whose
//          watermark is older keeps the online values; profile_digests cleared, so the next
//          refresh writes the user whole), a bought item out of the user's recommendations at
//          once (its RECOMMENDED edge and its entry in profile_recommendations), and, where
//          the row has next categories, the user's NEXT_CATEGORY edges replaced (run_id
//          'online'). Profiled users who may be profiled only.
// mode: write
// params: consent_default BOOLEAN, now INTEGER (epoch ms), epoch INTEGER (change epoch),
//         rows LIST<MAP{user_id STRING, props MAP, fields LIST<STRING>, bought LIST<STRING>,
//         next LIST<MAP{name, rank, probability}>?}> (1..10000 rows)
// returns: written INTEGER
UNWIND $rows AS row
MATCH (u:User {user_id: row.user_id})
WHERE u.profile_run_id IS NOT NULL AND coalesce(u.profiling_consent, $consent_default)
SET u += row.props,
    u.profile_online_at = $now,
    u.profile_online_fields = [f IN coalesce(u.profile_online_fields, [])
                               WHERE NOT f IN row.fields
                                 AND coalesce(u.profile_online_epoch, -1)
                                     > coalesce(u.profile_watermark, -1)] + row.fields,
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
CALL {
  WITH u, row
  OPTIONAL MATCH (u)-[old:NEXT_CATEGORY]->()
  WITH old WHERE row.next IS NOT NULL AND old IS NOT NULL
  DELETE old
}
CALL {
  WITH u, row
  UNWIND coalesce(row.next, []) AS next
  MATCH (c:Category {name: next.name})
  CREATE (u)-[:NEXT_CATEGORY {rank: next.rank, probability: next.probability,
                              run_id: 'online'}]->(c)
}
RETURN count(u) AS written
