// purpose: Keep rejected input in the dead-letter store. Keyed by a hash of the source and the
//          whole input, so re-reading the same bad input counts it again instead of
//          duplicating it. `line` is where in its file the input stood (the latest sighting).
// mode: write
// params: rows LIST<MAP{key, source, reason, field, value, raw, digest, line, event_id,
//         mentions LIST<STRING> (the identifier-shaped strings it names, decoded: erasure
//         matches on them)}>, seq INTEGER
// returns: nothing
UNWIND $rows AS row
MERGE (r:RejectedEvent {key: row.key})
ON CREATE SET r.source = row.source, r.reason = row.reason, r.field = row.field,
              r.value = row.value, r.raw = row.raw, r.event_id = row.event_id,
              r.mentions = row.mentions,
              r.first_at = timestamp(), r.times = 0
SET r.times = r.times + 1, r.at = timestamp(), r.seq = $seq, r.line = row.line
