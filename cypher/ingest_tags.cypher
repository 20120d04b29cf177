// purpose: Apply tag interactions: (:User)-[:TAGGED {category}]->(:Item), one relationship per
//          (user, item, tag). The tags' effect on item categories is ingest_tag_categories.
//          ts keeps the latest assignment time, first_ts the earliest, times the last 64 in
//          arrival order.
// mode: write
// params: rows LIST<MAP{user_id, item_id, category STRING, ts INTEGER?, weight FLOAT,
//         count INTEGER}>, seq INTEGER
// returns: nothing
UNWIND $rows AS row
MERGE (u:User {user_id: row.user_id})
MERGE (i:Item {item_id: row.item_id})
MERGE (u)-[r:TAGGED {category: row.category}]->(i)
ON CREATE SET r.count = 0, r.weight = 0.0
SET r.first_ts = CASE WHEN row.ts IS NULL THEN r.first_ts
                    WHEN coalesce(r.first_ts, r.ts, row.ts) < row.ts THEN coalesce(r.first_ts, r.ts)
                    ELSE row.ts END,
    r.count = r.count + row.count,
    r.weight = r.weight + row.weight,
    r.ts = CASE WHEN r.ts IS NULL OR row.ts > r.ts THEN row.ts ELSE r.ts END,
    r.times = CASE WHEN row.ts IS NULL THEN r.times ELSE (coalesce(r.times, []) + row.ts)[-64..] END,
    u.changed_seq = $seq
