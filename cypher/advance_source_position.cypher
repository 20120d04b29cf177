// purpose: Move a source partition's position to the last offset of the batch this transaction
//          applies: it commits with the data, so a crash leaves both or neither.
// mode: write
// params: source STRING, partition INTEGER, offset INTEGER (>= 0), events INTEGER (>= 0)
// returns: nothing
MATCH (p:SourcePosition {key: $source + '#' + toString($partition)})
SET p.offset = $offset, p.events = p.events + $events, p.at = timestamp()
