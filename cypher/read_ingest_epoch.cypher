// purpose: The open change epoch: what an ingest transaction stamps on the users and items it
//          touches (changed_seq). A plain read, no lock: ingest transactions never wait for each
//          other here. Epoch 1 before the first close (see close_ingest_epoch.cypher).
// mode: read
// params: none
// returns: epoch INTEGER
OPTIONAL MATCH (w:Watermark {name: 'ingest'})
RETURN coalesce(w.seq, 1) AS epoch
