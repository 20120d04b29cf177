// purpose: Retention of the dead-letter store: delete, in batches, rejected input last seen
//          before a time (its raw text can name people). Run until it deletes none.
// mode: write
// params: before INTEGER (epoch ms), limit INTEGER
// bounds: before 0..4102444800000, limit 1..100000
// returns: deleted INTEGER
MATCH (r:RejectedEvent)
WHERE r.at < $before
WITH r LIMIT $limit
DELETE r
RETURN count(*) AS deleted
