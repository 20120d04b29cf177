// purpose: Internal ids of every user who may be profiled (first pass of a whole-graph or
//          time-window export): their profiling_consent, or the default where they never said;
//          with include_unconsented, everyone (the others then only as context, never profiled).
// mode: read
// params: consent_default BOOLEAN, include_unconsented BOOLEAN
// returns: ids LIST<INTEGER>
MATCH (u:User)
WHERE $include_unconsented OR coalesce(u.profiling_consent, $consent_default)
RETURN collect(id(u)) AS ids
