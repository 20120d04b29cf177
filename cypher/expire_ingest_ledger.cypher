// purpose: Bound the de-duplication window: ledger entries (event digests of API and dataset
//          submissions) and delivered-batch records older than the window go, a batch at a time.
// mode: write
// params: before INTEGER (epoch ms), limit INTEGER (1..100000)
// returns: deleted INTEGER
CALL () {
  MATCH (e:IngestedEvent) WHERE e.at < $before
  RETURN e AS n LIMIT $limit
  UNION
  MATCH (b:AppliedBatch) WHERE b.at < $before
  RETURN b AS n LIMIT $limit
}
DELETE n
RETURN count(*) AS deleted
