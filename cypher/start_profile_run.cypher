// purpose: Record that a profile run started (provenance; idempotent for a re-delivered task).
// mode: write
// params: run_id STRING, kind STRING, model STRING, params STRING (JSON), watermark INTEGER
// returns: nothing
MERGE (r:ProfileRun {run_id: $run_id})
ON CREATE SET r.started_at = datetime(), r.kind = $kind, r.model = $model,
              r.params = $params, r.watermark = $watermark
SET r.status = 'running'
