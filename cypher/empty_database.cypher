// purpose: Delete up to $limit nodes with their edges (a bench empties its own database with
//          this, a block at a time, before loading a small shop through the online ingest;
//          never run by the application).
// mode: write
// params: limit INTEGER
// bounds: limit 1..100000
// returns: deleted INTEGER (0: the database is empty)
MATCH (n)
WITH n LIMIT $limit
DETACH DELETE n
RETURN count(*) AS deleted
