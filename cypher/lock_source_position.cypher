// purpose: Lock a source partition's position for this ingest transaction and return it (-1
//          before the first batch). The write lock serialises writers of the same partition
//          only (two consumers racing through a rebalance); the value read after it is the
//          committed one, so a batch at or below it is a replay.
// mode: write
// params: source STRING (1..400 chars), partition INTEGER (>= 0)
// returns: offset INTEGER
MERGE (p:SourcePosition {key: $source + '#' + toString($partition)})
ON CREATE SET p.source = $source, p.partition = $partition, p.offset = -1, p.events = 0
SET p.locked_at = timestamp()
RETURN p.offset AS offset
