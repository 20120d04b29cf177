// purpose: The timed actions of one chunk of users, one row per action time kept on the edge
//          (r.times; an edge written before times were kept yields its latest ts), the latest
//          per_user of each user, for sequence models. The type list is
//          core/vocabulary.py's REL_TYPES (a test keeps them equal).
// mode: read
// params: ids LIST<INTEGER> (user internal ids), start INTEGER? and end INTEGER? (epoch ms
//         window on the action's time; null = no window), per_user INTEGER
// bounds: per_user 1..100000
// returns: src, kinds, dst (item internal ids), ts (epoch ms), categories (the tag of a
//          TAGGED action, else ''): LISTs
UNWIND $ids AS nid
MATCH (u:User) WHERE id(u) = nid
CALL {
  WITH u
  MATCH (u)-[r:VIEWED|CLICKED|CARTED|FAVOURITED|PURCHASED|RATED|REVIEWED|LISTENED|TAGGED]->(i)
  UNWIND coalesce(r.times, CASE WHEN r.ts IS NULL THEN [] ELSE [r.ts] END) AS t
  WITH r, i, t
  WHERE $start IS NULL OR (t >= $start AND t < $end)
  RETURN type(r) AS kind, id(i) AS item, r.category AS category, t
  ORDER BY t DESC
  LIMIT $per_user
}
RETURN collect(nid) AS src, collect(kind) AS kinds, collect(item) AS dst, collect(t) AS ts,
       collect(coalesce(category, '')) AS categories
