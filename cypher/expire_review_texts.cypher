// purpose: Retention of review texts: remove those written before $before (epoch ms), at most
//          $limit at a time (housekeeping repeats until none is left).
// mode: write
// params: before INTEGER (epoch ms), limit INTEGER (1..100000)
// returns: expired INTEGER
MATCH ()-[r:REVIEWED]->()
WHERE r.text_ts < $before
WITH r LIMIT $limit
REMOVE r.text, r.language, r.text_ts
RETURN count(r) AS expired
