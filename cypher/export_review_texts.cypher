// purpose: The reviews with text of one chunk of users, for the export's text model: what it
//          keeps is a score and counts of common terms per review (engine.snapshot's
//          ReviewDigest); the words themselves never reach a snapshot file.
// mode: read
// params: ids LIST<INTEGER> (user internal ids), start INTEGER? and end INTEGER? (epoch ms
//         window on when the review was written; null = no window)
// returns: src, dst (item internal ids), texts, languages, ts (epoch ms), stars (the review's
//          rating; 0 = none): LISTs
UNWIND $ids AS nid
MATCH (u:User) WHERE id(u) = nid
MATCH (u)-[r:REVIEWED]->(i:Item)
WHERE r.text IS NOT NULL AND ($start IS NULL OR (r.text_ts >= $start AND r.text_ts < $end))
RETURN collect(nid) AS src, collect(id(i)) AS dst, collect(r.text) AS texts,
       collect(r.language) AS languages, collect(r.text_ts) AS ts,
       collect(coalesce(r.weight, 0.0)) AS stars
