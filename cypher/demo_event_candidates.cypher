// purpose: For the demo's new events: users with the least history, each with an artist a
//          followee tagged (and the tag) that the user has not touched yet, and the time of the
//          latest tag assignment (new events follow it).
// mode: read
// params: limit INTEGER
// returns: user_id STRING, item_id STRING, category STRING, last_ts INTEGER
CALL () { MATCH ()-[t:TAGGED]->() RETURN max(t.ts) AS last_ts }
MATCH (u:User)-[:FOLLOWS]->(:User)-[t:TAGGED]->(i:Item)
WHERE NOT EXISTS { (u)-->(i) }
WITH u, last_ts, collect({item_id: i.item_id, category: t.category})[0] AS pick
RETURN u.user_id AS user_id, pick.item_id AS item_id, pick.category AS category, last_ts
ORDER BY COUNT { (u)-->(:Item) }, user_id
LIMIT $limit
