// purpose: Close the open change epoch: later ingest transactions stamp the next one. Returns the
//          closed epoch, which becomes an export's watermark once every ingest transaction that
//          may still stamp it has ended (graph.ingest.close_epoch waits for them).
// mode: write
// params: none
// returns: closed INTEGER
MERGE (w:Watermark {name: 'ingest'})
ON CREATE SET w.seq = 1
SET w.seq = w.seq + 1, w.updated_at = timestamp()
RETURN w.seq - 1 AS closed
