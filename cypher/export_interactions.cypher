// purpose: Interactions (every kind but TAGGED) of one chunk of users, as parallel lists. The
//          type list is core/vocabulary.py's REL_TYPES less TAGGED (a test keeps them equal).
// mode: read
// params: ids LIST<INTEGER> (user internal ids), start INTEGER? and end INTEGER? (epoch ms
//         window on edge ts; null = no window; edges without ts are outside any window),
//         properties BOOLEAN (false: skip weight/ts/count, which are most of the server's
//         work, and return those lists empty)
// returns: src, kinds, dst, weights, ts (the latest event's time; -1 = unknown), first_ts (the
//          earliest event's time; ts where not recorded), counts: LISTs
UNWIND $ids AS nid
MATCH (u:User) WHERE id(u) = nid
MATCH (u)-[r:VIEWED|CLICKED|CARTED|FAVOURITED|PURCHASED|RATED|REVIEWED|LISTENED]->(i)
WHERE $start IS NULL OR (r.ts >= $start AND r.ts < $end)
RETURN collect(nid) AS src, collect(type(r)) AS kinds, collect(id(i)) AS dst,
       collect(CASE WHEN $properties THEN coalesce(r.weight, 1.0) END) AS weights,
       collect(CASE WHEN $properties THEN coalesce(r.ts, -1) END) AS ts,
       collect(CASE WHEN $properties THEN coalesce(r.first_ts, r.ts, -1) END) AS first_ts,
       collect(CASE WHEN $properties THEN coalesce(r.count, 1) END) AS counts
