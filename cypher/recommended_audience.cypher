// purpose: The users an item is recommended to, best-placed first, with the slot's kind and
//          reason (who would see it, and why).
// analyst: yes
// mode: read
// params: item_id STRING, top INTEGER = 20
// bounds: top 1..10000
//   item_id: the item's external id; top: how many users
// returns: user_id, rank, kind, reason, audience (users it is recommended to, in all)
// dp: count audience; single
// example: profilegraph query recommended_audience --param item_id=289 --param top=20
MATCH (i:Item {item_id: $item_id})<-[r:RECOMMENDED]-(u:User)
WITH u, r ORDER BY r.rank, u.user_id
WITH collect({user_id: u.user_id, rank: r.rank, kind: r.kind, reason: r.reason}) AS rows
UNWIND rows[0..$top] AS row
RETURN row.user_id AS user_id, row.rank AS rank, row.kind AS kind, row.reason AS reason,
       size(rows) AS audience
