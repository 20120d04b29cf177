// purpose: Of these users, the ones who may be profiled: their profiling_consent, or the
//          deployment's default where they never said.
// mode: read
// params: ids LIST<INTEGER> (user internal ids), consent_default BOOLEAN
// returns: ids LIST<INTEGER>
UNWIND $ids AS nid
MATCH (u:User) WHERE id(u) = nid AND coalesce(u.profiling_consent, $consent_default)
RETURN collect(nid) AS ids
