// purpose: Whether the server has profilegraph's export procedure (the project's own server
//          does; another, e.g. a stock Docker image, may not, and the export then uses Cypher).
// mode: read
// params: none
// returns: installed BOOLEAN
SHOW PROCEDURES YIELD name
WHERE name = 'profilegraph.exportEdges'
RETURN count(*) > 0 AS installed
