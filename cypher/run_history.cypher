// purpose: Profile runs started in a time range, newest first, with their timings and metrics.
// analyst: yes
// mode: read
// params: from INTEGER = 0, to INTEGER = 4102444800000, limit INTEGER = 20
// bounds: from 0..4102444800000, to 0..4102444800000, limit 1..10000
//   from/to: epoch milliseconds on the run's start, from inclusive, to exclusive
// returns: run_id, kind, model, status, started_at, finished_at, profiles_written,
//          timings (JSON), metrics (JSON)
// example: profilegraph query run_history --param from=0 --param to=4102444800000 --param limit=20
MATCH (r:ProfileRun)
WHERE r.started_at >= datetime({epochMillis: $from}) AND r.started_at < datetime({epochMillis: $to})
RETURN r.run_id AS run_id, r.kind AS kind, r.model AS model, r.status AS status,
       toString(r.started_at) AS started_at, toString(r.finished_at) AS finished_at,
       r.profiles_written AS profiles_written, r.timings AS timings, r.metrics AS metrics
ORDER BY r.started_at DESC
LIMIT $limit
