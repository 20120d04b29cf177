// purpose: Delete up to $limit edges, or once none is left up to $limit nodes (a bench empties
//          its own database with this, a block at a time, before loading a small shop through
//          the online ingest; never run by the application). Edges go first so that a block
//          never holds a dense node's whole edge list: a block of nodes with their edges ran
//          out of transaction memory after a 100k-user shop.
// mode: write
// params: limit INTEGER
// bounds: limit 1..100000
// returns: deleted INTEGER (0: the database is empty)
OPTIONAL MATCH ()-[r]->()
WITH r LIMIT $limit
DELETE r
WITH count(r) AS edges
CALL (edges) {
  OPTIONAL MATCH (n) WHERE edges = 0
  WITH n LIMIT $limit
  DELETE n
  RETURN count(n) AS nodes
}
RETURN edges + nodes AS deleted
