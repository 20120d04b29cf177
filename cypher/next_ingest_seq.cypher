// purpose: Take the next ingest sequence number. Runs first in every ingest transaction: the
//          write lock it takes on the Watermark node serialises ingest transactions, so
//          sequence numbers are handed out in commit order and "changed since seq N" never
//          misses a transaction that committed late.
// mode: write
// params: none
// returns: seq INTEGER
MERGE (w:Watermark {name: 'ingest'})
ON CREATE SET w.seq = 0
SET w.seq = w.seq + 1, w.updated_at = timestamp()
RETURN w.seq AS seq
