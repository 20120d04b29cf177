// purpose: IN_CATEGORY edges of one chunk of items, as parallel lists.
// mode: read
// params: ids LIST<INTEGER> (item internal ids)
// returns: src, dst (category internal ids), weights: LISTs
UNWIND $ids AS nid
MATCH (i:Item) WHERE id(i) = nid
MATCH (i)-[c:IN_CATEGORY]->(k)
RETURN collect(nid) AS src, collect(id(k)) AS dst, collect(coalesce(c.weight, 1.0)) AS weights
