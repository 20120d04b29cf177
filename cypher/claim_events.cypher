// purpose: Record events in the ingest ledger and return the ones not seen before, so that
//          replaying an event (a re-read file, a redelivered stream message) changes nothing.
//          The ledger keeps a digest of each event id, never the id (ids can name people).
// mode: write
// params: keys LIST<STRING> (distinct SHA-256 digests of event ids), seq INTEGER
// returns: fresh LIST<STRING>
UNWIND $keys AS key
OPTIONAL MATCH (seen:IngestedEvent {key: key})
WITH key, seen
WHERE seen IS NULL
CREATE (:IngestedEvent {key: key, seq: $seq, at: timestamp()})
RETURN collect(key) AS fresh
