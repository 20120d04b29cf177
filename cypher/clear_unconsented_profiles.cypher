// purpose: Remove, in batches, the profile of users who may not be profiled (no consent, or
//          withdrawn): every profile_* property (`nulls` names them all, from the contract) and
//          their INTERESTED_IN, RECOMMENDED and NEXT_CATEGORY edges. Run until it clears none.
// mode: write
// params: consent_default BOOLEAN, nulls MAP (every profile property -> null), limit INTEGER
// bounds: limit 1..100000
// returns: cleared INTEGER
MATCH (u:User)
WHERE u.profile_run_id IS NOT NULL AND NOT coalesce(u.profiling_consent, $consent_default)
WITH u LIMIT $limit
CALL (u) {
  MATCH (u)-[r:INTERESTED_IN|RECOMMENDED|NEXT_CATEGORY]->()
  DELETE r
}
SET u += $nulls
RETURN count(u) AS cleared
