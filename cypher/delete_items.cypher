// purpose: Delete items with all their edges; users who interacted with them count as changed.
// mode: write
// params: rows LIST<MAP{item_id STRING}>, seq INTEGER
// returns: nothing
UNWIND $rows AS row
MATCH (i:Item {item_id: row.item_id})
OPTIONAL MATCH (u:User)-->(i)
SET u.changed_seq = $seq
WITH DISTINCT i
DETACH DELETE i
