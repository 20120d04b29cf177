// purpose: Every source partition's committed position (Kafka topics, files): where a consumer
//          resumes, and what its lag is measured against.
// mode: read
// params: prefix STRING (match sources starting with it; '' for all)
// returns: source STRING, partition INTEGER, offset INTEGER, events INTEGER, at INTEGER
MATCH (p:SourcePosition)
WHERE p.source STARTS WITH $prefix
RETURN p.source AS source, p.partition AS partition, p.offset AS offset,
       p.events AS events, p.at AS at
ORDER BY source, partition
