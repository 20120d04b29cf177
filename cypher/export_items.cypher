// purpose: Items of one export chunk, as parallel lists.
// mode: read
// params: ids LIST<INTEGER> (item internal ids)
// returns: nids LIST<INTEGER>, item_ids LIST<STRING>, prices LIST<FLOAT> (-1 = unknown)
UNWIND $ids AS nid
MATCH (i:Item) WHERE id(i) = nid
RETURN collect(nid) AS nids, collect(i.item_id) AS item_ids,
       collect(coalesce(i.price, -1.0)) AS prices
