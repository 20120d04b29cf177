// purpose: Write one batch of complete profiles. Every profile_* field is set in the same SET
//          (absent fields as null, which removes them), and the user's INTERESTED_IN edges are
//          brought in line in the same statement, so a user is always on one run's complete
//          profile. A user whose stored profile reflects a newer watermark is skipped: a late or
//          redelivered writer of an older run never rolls profiles back. When the top interests
//          are the same categories in the same order (most users, most refreshes), the edges
//          are updated in place; only changed users have theirs deleted and created, which
//          locks the (dense) category nodes. The user's RECOMMENDED and NEXT_CATEGORY edges are
//          replaced by the row's lists in the same statement. A user who may not be profiled
//          (profiling_consent false, or absent and consent_default false) is never written.
//          Where the online path moved the user after this run's snapshot (profile_online_epoch
//          above the row's watermark), its fields keep their newer values: batch_props is props
//          without the contract's online fields, and the NEXT_CATEGORY edges stay (the next
//          categories are among them). Only the parts the writer found changed are
//          written (row.write: props, embedding, interests, recommendations, next_categories;
//          props not written = the provenance only), and profile_digests records them.
// mode: write
// params: run_id STRING, trail_runs INTEGER, consent_default BOOLEAN,
//         rows LIST<MAP{user_id STRING, watermark INTEGER, props MAP, batch_props MAP,
//                       embedding LIST<FLOAT>,
//                       interests LIST<MAP>, recommendations LIST<MAP{item_id, rank,
//                       score, kind, reason, category}>, next_categories LIST<MAP{name,
//                       rank, probability}>, trail_key STRING, trail STRING,
//                       field_trails LIST<MAP{property STRING, entry STRING}>,
//                       provenance MAP, digests LIST<STRING>,
//                       online_digests LIST<STRING>,
//                       write MAP{props, embedding, interests, recommendations,
//                       next_categories: BOOLEAN}}>
// returns: written INTEGER
UNWIND $rows AS row
MATCH (u:User {user_id: row.user_id})
WHERE coalesce(u.profile_watermark, -1) <= row.watermark
  AND coalesce(u.profiling_consent, $consent_default)
WITH u, row, coalesce(u.profile_online_epoch, -1) > row.watermark AS online_newer,
     NOT row.write.interests
     OR (coalesce(u.profile_interests, []) = [i IN row.interests | i.name]
         AND COUNT { (u)-[:INTERESTED_IN]->() } = size(row.interests)) AS same
SET u += CASE WHEN NOT row.write.props THEN row.provenance
              WHEN online_newer THEN row.batch_props ELSE row.props END,
    u.profile_digests = CASE WHEN online_newer THEN row.online_digests ELSE row.digests END,
    u.profile_trail = ([row.trail] + [entry IN coalesce(u.profile_trail, [])
                                      WHERE NOT entry STARTS WITH row.trail_key])[0..$trail_runs]
FOREACH (t IN row.field_trails |  // the declared field trails (core/profile_contract.FIELD_TRAILS)
  SET u[t.property] = ([t.entry] + [entry IN coalesce(u[t.property], [])
                                    WHERE NOT entry STARTS WITH row.trail_key])[0..$trail_runs])
WITH u, row, same, online_newer AS next_online  // the next categories move online too
CALL (u, row) {
  UNWIND CASE WHEN row.write.embedding THEN [true] ELSE [] END AS written
  CALL db.create.setNodeVectorProperty(u, 'profile_embedding', row.embedding)
}
CALL (u, row, same) {
  MATCH (u)-[r:INTERESTED_IN]->()
  WHERE same AND row.write.interests
  WITH r, row.interests[r.rank - 1] AS interest
  SET r.weight = interest.weight, r.items = interest.items, r.friends = interest.friends,
      r.adoptions = interest.adoptions, r.run_id = $run_id
}
CALL (u, same) {
  MATCH (u)-[old:INTERESTED_IN]->()
  WHERE NOT same
  DELETE old
}
CALL (u, row, same) {
  UNWIND CASE WHEN same THEN [] ELSE row.interests END AS interest
  MATCH (c:Category {name: interest.name})
  CREATE (u)-[:INTERESTED_IN {rank: interest.rank, weight: interest.weight, items: interest.items,
                              friends: interest.friends, adoptions: interest.adoptions,
                              run_id: $run_id}]->(c)
}
CALL (u, row) {
  MATCH (u)-[old:RECOMMENDED]->()
  WHERE row.write.recommendations
  DELETE old
}
CALL (u, row) {
  UNWIND CASE WHEN row.write.recommendations THEN row.recommendations ELSE [] END AS rec
  MATCH (i:Item {item_id: rec.item_id})
  CREATE (u)-[:RECOMMENDED {rank: rec.rank, score: rec.score, kind: rec.kind, reason: rec.reason,
                            category: rec.category, run_id: $run_id}]->(i)
}
CALL (u, row, next_online) {
  MATCH (u)-[old:NEXT_CATEGORY]->()
  WHERE row.write.next_categories AND NOT next_online
  DELETE old
}
CALL (u, row, next_online) {
  UNWIND CASE WHEN row.write.next_categories AND NOT next_online THEN row.next_categories
              ELSE [] END AS next
  MATCH (c:Category {name: next.name})
  CREATE (u)-[:NEXT_CATEGORY {rank: next.rank, probability: next.probability,
                              run_id: $run_id}]->(c)
}
RETURN count(*) AS written
