// purpose: Interest drift: users whose top interests differ between two runs that both profiled
//          them (read from each user's profile_trail, which keeps their last 10 runs).
// analyst: yes
// mode: read
// params: from_run STRING, to_run STRING, limit INTEGER = 20
// bounds: limit 1..10000
//   from_run/to_run: run ids (see run_history); limit: how many users
// returns: user_id, before, after, gained (in after only), lost (in before only)
// example: profilegraph query interest_drift --param from_run=full-1 --param to_run=full-2 --param limit=20
MATCH (u:User)
WHERE u.profile_run_id IS NOT NULL
WITH u, [e IN u.profile_trail WHERE e STARTS WITH $from_run + '\u001F'] AS a,
        [e IN u.profile_trail WHERE e STARTS WITH $to_run + '\u001F'] AS b
WHERE size(a) = 1 AND size(b) = 1
WITH u, split(a[0], '\u001F')[1..] AS before, split(b[0], '\u001F')[1..] AS after
WITH u, before, after, [x IN after WHERE NOT x IN before] AS gained,
     [x IN before WHERE NOT x IN after] AS lost
WHERE size(gained) + size(lost) > 0
RETURN u.user_id AS user_id, before, after, gained, lost
ORDER BY size(gained) + size(lost) DESC, user_id
LIMIT $limit
