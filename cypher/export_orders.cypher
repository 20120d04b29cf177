// purpose: The orders (purchase occasions) of one chunk of users: what value models read.
// mode: read
// params: ids LIST<INTEGER> (user internal ids), start INTEGER? and end INTEGER? (epoch ms
//         window on the order's ts, as in export_interactions; null = no window)
// returns: src, order_ids, ts (epoch ms), amounts (-1 = unknown): LISTs
UNWIND $ids AS nid
MATCH (u:User) WHERE id(u) = nid
MATCH (u)-[:PLACED]->(o:Order)
WHERE $start IS NULL OR (o.ts >= $start AND o.ts < $end)
RETURN collect(nid) AS src, collect(o.order_id) AS order_ids, collect(o.ts) AS ts,
       collect(coalesce(o.amount, -1.0)) AS amounts
