// purpose: Attach an evaluation (JSON) to a run's provenance record.
// mode: write
// params: run_id STRING, evaluation STRING (JSON)
// returns: nothing
MATCH (r:ProfileRun {run_id: $run_id})
SET r.evaluation = $evaluation
