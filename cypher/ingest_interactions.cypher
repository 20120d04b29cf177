// purpose: Apply user-item interactions of one kind (every kind but tag). __REL_TYPE__ is
//          filled from the allow-list in core/vocabulary.py (REL_TYPES), never from input text.
//          count and weight accumulate (weight is replaced for ratings); ts keeps the latest
//          time, first_ts the earliest (set before ts: an edge from before first_ts existed
//          takes its ts as its first);
//          times keeps the last 64 action times in arrival order (the order of actions).
// mode: write
// params: rows LIST<MAP{user_id, item_id, ts INTEGER? (epoch ms), weight FLOAT,
//         count INTEGER, replace BOOLEAN}>, seq INTEGER
// returns: nothing
UNWIND $rows AS row
MERGE (u:User {user_id: row.user_id})
MERGE (i:Item {item_id: row.item_id})
MERGE (u)-[r:__REL_TYPE__]->(i)
ON CREATE SET r.count = 0, r.weight = 0.0
SET r.first_ts = CASE WHEN row.ts IS NULL THEN r.first_ts
                    WHEN coalesce(r.first_ts, r.ts, row.ts) < row.ts THEN coalesce(r.first_ts, r.ts)
                    ELSE row.ts END,
    r.count = r.count + row.count,
    r.weight = CASE WHEN row.replace THEN row.weight ELSE r.weight + row.weight END,
    r.ts = CASE WHEN r.ts IS NULL OR row.ts > r.ts THEN row.ts ELSE r.ts END,
    r.times = CASE WHEN row.ts IS NULL THEN r.times ELSE (coalesce(r.times, []) + row.ts)[-64..] END,
    u.changed_seq = $seq
