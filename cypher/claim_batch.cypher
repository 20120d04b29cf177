// purpose: Record a delivered batch (a Redis consumer group's read, keyed by its stream and
//          first and last message ids and size); fresh is false when it was applied before, so
//          a redelivery after a crash between commit and acknowledgement changes nothing.
// mode: write
// params: key STRING (SHA-256 hex), source STRING, seq INTEGER
// returns: fresh BOOLEAN
MERGE (b:AppliedBatch {key: $key})
ON CREATE SET b.source = $source, b.seq = $seq, b.at = timestamp(), b.new = true
ON MATCH SET b.new = false
RETURN b.new AS fresh
