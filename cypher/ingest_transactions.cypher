// purpose: The ingest transactions running now (their metadata names them: graph.client sets
//          query = the transaction's name, graph.ingest.INGEST_TRANSACTION); close_epoch waits
//          until those it saw have ended.
// mode: read
// params: transaction STRING (a transaction name, 1..100 chars)
// returns: ids LIST<STRING>
SHOW TRANSACTIONS YIELD transactionId, metaData
WHERE metaData.query = $transaction
RETURN collect(transactionId) AS ids
