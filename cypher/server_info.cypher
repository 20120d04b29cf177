// purpose: Which Neo4j and GDS this database runs; answers `profilegraph services status`.
// mode: read
// params: none
// returns: neo4j_version STRING, edition STRING, gds_version STRING (null without GDS)
CALL dbms.components() YIELD name, versions, edition
WHERE name = 'Neo4j Kernel'
RETURN versions[0] AS neo4j_version, edition, gds.version() AS gds_version
