// purpose: Record event ids in the ingest ledger and return the ones not seen before, so that
//          replaying an event (a re-read file, a redelivered stream message) changes nothing.
// mode: write
// params: event_ids LIST<STRING> (distinct), seq INTEGER
// returns: fresh LIST<STRING>
UNWIND $event_ids AS id
OPTIONAL MATCH (seen:IngestedEvent {event_id: id})
WITH id, seen
WHERE seen IS NULL
CREATE (:IngestedEvent {event_id: id, seq: $seq, at: timestamp()})
RETURN collect(id) AS fresh
