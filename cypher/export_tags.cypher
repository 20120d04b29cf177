// purpose: Tag interactions of one chunk of users, with the tag (category name) per edge.
// mode: read
// params: ids LIST<INTEGER> (user internal ids), start INTEGER?, end INTEGER?,
//         properties BOOLEAN (as in export_interactions; the category is always returned)
// returns: src, dst, categories, ts (latest; -1 = unknown), first_ts (earliest), counts: LISTs
UNWIND $ids AS nid
MATCH (u:User) WHERE id(u) = nid
MATCH (u)-[r:TAGGED]->(i)
WHERE $start IS NULL OR (r.ts >= $start AND r.ts < $end)
RETURN collect(nid) AS src, collect(id(i)) AS dst, collect(r.category) AS categories,
       collect(CASE WHEN $properties THEN coalesce(r.ts, -1) END) AS ts,
       collect(CASE WHEN $properties THEN coalesce(r.first_ts, r.ts, -1) END) AS first_ts,
       collect(CASE WHEN $properties THEN coalesce(r.count, 1) END) AS counts
