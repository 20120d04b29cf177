// purpose: Lifecycle moves between two runs: how many users moved from each stage to each
//          other, each side as stored when that run finished (read from profile_stage_trail,
//          the last 10 runs that wrote the user: a run that found a profile unchanged leaves no
//          entry, so a user's stage at a run is their newest entry not newer than it).
// analyst: yes
// mode: read
// params: from_run STRING, to_run STRING, limit INTEGER = 20
// bounds: limit 1..100
//   from_run/to_run: run ids (see run_history); limit: how many (before, after) pairs
// returns: before, after, users, examples (up to 5 user ids)
// example: profilegraph query lifecycle_moves --param from_run=full-1 --param to_run=full-2
MATCH (f:ProfileRun {run_id: $from_run}), (t:ProfileRun {run_id: $to_run})
// the runs started after each side (few, for recent runs): an entry of one of them is too new
WITH COLLECT { MATCH (r:ProfileRun) WHERE r.started_at > f.started_at RETURN r.run_id } AS after_a,
     COLLECT { MATCH (r:ProfileRun) WHERE r.started_at > t.started_at RETURN r.run_id } AS after_b
MATCH (u:User)
WHERE u.profile_run_id IS NOT NULL
WITH u, [e IN coalesce(u.profile_stage_trail, []) WHERE NOT split(e, '\u001F')[0] IN after_a][0] AS a,
        [e IN coalesce(u.profile_stage_trail, []) WHERE NOT split(e, '\u001F')[0] IN after_b][0] AS b
WHERE a IS NOT NULL AND b IS NOT NULL
WITH u, split(a, '\u001F')[1] AS before, split(b, '\u001F')[1] AS after
WHERE before <> after
WITH before, after, u ORDER BY u.user_id
RETURN before, after, count(*) AS users, collect(u.user_id)[0..5] AS examples
ORDER BY users DESC, before, after
LIMIT $limit
