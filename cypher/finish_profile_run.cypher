// purpose: Record how a profile run ended, with its metrics and timings (JSON strings).
// mode: write
// params: run_id STRING, status STRING, metrics STRING (JSON), timings STRING (JSON),
//         profiles_written INTEGER
// returns: nothing
MATCH (r:ProfileRun {run_id: $run_id})
SET r.status = $status, r.finished_at = datetime(), r.metrics = $metrics,
    r.timings = $timings, r.profiles_written = $profiles_written
