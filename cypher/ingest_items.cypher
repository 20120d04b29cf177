// purpose: Upsert items and add their catalogue categories (existing categories are kept).
// mode: write
// params: rows LIST<MAP{item_id STRING, name STRING?, categories LIST<STRING>, price FLOAT?,
//         brand STRING?}>, seq INTEGER
// returns: nothing
UNWIND $rows AS row
MERGE (i:Item {item_id: row.item_id})
SET i.name = coalesce(row.name, i.name), i.price = coalesce(row.price, i.price),
    i.brand = coalesce(row.brand, i.brand), i.changed_seq = $seq
WITH i, row
UNWIND row.categories AS name
MERGE (c:Category {name: name})
MERGE (i)-[r:IN_CATEGORY]->(c)
ON CREATE SET r.weight = 1.0
