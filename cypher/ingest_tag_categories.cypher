// purpose: Count tags as item categories: (:Item)-[:IN_CATEGORY {weight}]->(:Category), weight
//          = how often the tag was given to the item. Rows are pre-aggregated per (item, tag).
// mode: write
// params: rows LIST<MAP{item_id STRING, category STRING, count INTEGER}>
// returns: nothing
UNWIND $rows AS row
MATCH (i:Item {item_id: row.item_id})
MERGE (c:Category {name: row.category})
MERGE (i)-[ic:IN_CATEGORY]->(c)
ON CREATE SET ic.weight = 0.0
SET ic.weight = ic.weight + row.count
