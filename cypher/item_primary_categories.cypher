// purpose: Each item's primary category, as engine.interactions.primary_category picks it from
//          an export: the heaviest IN_CATEGORY edge (weight, 1.0 where absent), ties to the
//          first category name in alphabetical order; items without a category are left out.
// mode: read
// params: items LIST<STRING> (1..100000 item ids)
// returns: item_id, category STRING
UNWIND $items AS id
MATCH (i:Item {item_id: id})-[c:IN_CATEGORY]->(k:Category)
WITH i, k, coalesce(c.weight, 1.0) AS weight
ORDER BY weight DESC, k.name ASC
WITH i, collect(k.name)[0] AS category
RETURN i.item_id AS item_id, category
