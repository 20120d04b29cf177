// purpose: Lifecycle moves between two runs that both profiled the users: how many moved from
//          each stage to each other (read from profile_stage_trail, the users' last 10 runs).
// analyst: yes
// mode: read
// params: from_run STRING, to_run STRING, limit INTEGER = 20
// bounds: limit 1..100
//   from_run/to_run: run ids (see run_history); limit: how many (before, after) pairs
// returns: before, after, users, examples (up to 5 user ids)
// example: profilegraph query lifecycle_moves --param from_run=full-1 --param to_run=full-2
MATCH (u:User)
WHERE u.profile_run_id IS NOT NULL
WITH u, [e IN coalesce(u.profile_stage_trail, []) WHERE e STARTS WITH $from_run + '\u001F'] AS a,
        [e IN coalesce(u.profile_stage_trail, []) WHERE e STARTS WITH $to_run + '\u001F'] AS b
WHERE size(a) = 1 AND size(b) = 1
WITH u, split(a[0], '\u001F')[1] AS before, split(b[0], '\u001F')[1] AS after
WHERE before <> after
WITH before, after, u ORDER BY u.user_id
RETURN before, after, count(*) AS users, collect(u.user_id)[0..5] AS examples
ORDER BY users DESC, before, after
LIMIT $limit
