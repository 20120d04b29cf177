// purpose: Users one FOLLOWS hop (either direction) from a frontier: one step of a k-hop export.
// mode: read
// params: ids LIST<INTEGER> (user internal ids)
// returns: ids LIST<INTEGER> (distinct neighbours)
UNWIND $ids AS nid
MATCH (u:User)-[:FOLLOWS]-(v:User) WHERE id(u) = nid
RETURN collect(DISTINCT id(v)) AS ids
