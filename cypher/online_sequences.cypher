// purpose: What the online path reads for a customer's next behaviour: the latest per_user
//          logged actions of the customer and of each followee an export keeps, as
//          export_actions reads them (newest first), each with its item id, relationship type,
//          time and tag (a TAGGED action's category, where a category of that name exists;
//          '' otherwise: the item's primary category applies, item_primary_categories).
//          Only profiled users who may be profiled come back.
// mode: read
// params: users LIST<STRING> (1..10000 user ids), consent_default BOOLEAN,
//         context BOOLEAN (unconsented users exported as context), per_user INTEGER
// bounds: per_user 1..100000
// returns: user_id, people LIST<MAP{items LIST<STRING>, kinds LIST<STRING>, ts LIST<INTEGER>,
//          tags LIST<STRING>}> (the customer first, then each followee)
UNWIND $users AS id
MATCH (u:User {user_id: id})
WHERE u.profile_run_id IS NOT NULL AND coalesce(u.profiling_consent, $consent_default)
CALL {
  WITH u
  OPTIONAL MATCH (u)-[:FOLLOWS]->(f:User)
  WHERE $context OR coalesce(f.profiling_consent, $consent_default)
  WITH u, collect(f) AS followees
  RETURN [u] + followees AS people
}
CALL {
  WITH people
  UNWIND range(0, size(people) - 1) AS position
  CALL {
    WITH people, position
    WITH people[position] AS who
    OPTIONAL MATCH (who)-[r:VIEWED|CLICKED|CARTED|FAVOURITED|PURCHASED|RATED|REVIEWED|LISTENED|TAGGED]->(i:Item)
    UNWIND coalesce(r.times, CASE WHEN r.ts IS NULL THEN [] ELSE [r.ts] END) AS t
    WITH r, i, t
    ORDER BY t DESC
    LIMIT $per_user
    RETURN collect(i.item_id) AS items, collect(type(r)) AS kinds, collect(t) AS ts,
           collect(CASE WHEN r.category IS NOT NULL
                             AND EXISTS { MATCH (:Category {name: r.category}) }
                        THEN r.category ELSE '' END) AS tags
  }
  WITH position, {items: items, kinds: kinds, ts: ts, tags: tags} AS person
  ORDER BY position
  RETURN collect(person) AS people_actions
}
RETURN u.user_id AS user_id, people_actions AS people
