// purpose: Interest drift: users whose top interests differ between two runs, each side as
//          stored when that run finished (read from each user's profile_trail, which keeps the
//          last 10 runs that wrote the user: a run that found a profile unchanged leaves no
//          entry, so a user's state at a run is their newest entry not newer than it).
// analyst: yes
// mode: read
// params: from_run STRING, to_run STRING, limit INTEGER = 20
// bounds: limit 1..10000
//   from_run/to_run: run ids (see run_history); limit: how many users
// returns: user_id, before, after, gained (in after only), lost (in before only)
// example: profilegraph query interest_drift --param from_run=full-1 --param to_run=full-2 --param limit=20
MATCH (f:ProfileRun {run_id: $from_run}), (t:ProfileRun {run_id: $to_run})
// the runs started after each side (few, for recent runs): an entry of one of them is too new
WITH COLLECT { MATCH (r:ProfileRun) WHERE r.started_at > f.started_at RETURN r.run_id } AS after_a,
     COLLECT { MATCH (r:ProfileRun) WHERE r.started_at > t.started_at RETURN r.run_id } AS after_b
MATCH (u:User)
WHERE u.profile_run_id IS NOT NULL
WITH u, [e IN coalesce(u.profile_trail, []) WHERE NOT split(e, '\u001F')[0] IN after_a][0] AS a,
        [e IN coalesce(u.profile_trail, []) WHERE NOT split(e, '\u001F')[0] IN after_b][0] AS b
WHERE a IS NOT NULL AND b IS NOT NULL
WITH u, split(a, '\u001F')[1..] AS before, split(b, '\u001F')[1..] AS after
WITH u, before, after, [x IN after WHERE NOT x IN before] AS gained,
     [x IN before WHERE NOT x IN after] AS lost
WHERE size(gained) + size(lost) > 0
RETURN u.user_id AS user_id, before, after, gained, lost
ORDER BY size(gained) + size(lost) DESC, user_id
LIMIT $limit
