// purpose: The last committed ingest sequence number (0 before any ingest): an export's watermark.
// mode: read
// params: none
// returns: seq INTEGER
OPTIONAL MATCH (w:Watermark {name: 'ingest'})
RETURN coalesce(w.seq, 0) AS seq
