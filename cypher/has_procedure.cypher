// purpose: Whether the server has one of profilegraph's own procedures (the project's own server
//          does; another, e.g. a stock Docker image, may not, and the export and the ingest then
//          use Cypher).
// mode: read
// params: procedure STRING (a procedure name, 1..100 chars)
// returns: installed BOOLEAN
SHOW PROCEDURES YIELD name
WHERE name = $procedure
RETURN count(*) > 0 AS installed
