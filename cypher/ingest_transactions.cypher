// purpose: The ingest transactions running now (their metadata names them: graph.client sets
//          query = 'ingest_batch'); close_epoch waits until those it saw have ended.
// mode: read
// params: none
// returns: ids LIST<STRING>
SHOW TRANSACTIONS YIELD transactionId, metaData
WHERE metaData.query = 'ingest_batch'
RETURN collect(transactionId) AS ids
