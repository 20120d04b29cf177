// purpose: FOLLOWS edges leaving one chunk of users.
// mode: read
// params: ids LIST<INTEGER> (user internal ids), start INTEGER?, end INTEGER?,
//         properties BOOLEAN (as in export_interactions)
// returns: src, dst, ts (-1 = unknown): LISTs
UNWIND $ids AS nid
MATCH (u:User) WHERE id(u) = nid
MATCH (u)-[f:FOLLOWS]->(v:User)
WHERE $start IS NULL OR (f.ts >= $start AND f.ts < $end)
RETURN collect(nid) AS src, collect(id(v)) AS dst,
       collect(CASE WHEN $properties THEN coalesce(f.ts, -1) END) AS ts
