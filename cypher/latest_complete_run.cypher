// purpose: The most recent complete profile run of a kind ('full' or any), for the watermark an
//          incremental refresh starts from and the model state it builds on.
// mode: read
// params: kinds LIST<STRING>
// returns: run_id STRING, kind STRING, watermark INTEGER
MATCH (r:ProfileRun)
WHERE r.status = 'complete' AND r.kind IN $kinds
RETURN r.run_id AS run_id, r.kind AS kind, r.watermark AS watermark
ORDER BY r.watermark DESC, r.started_at DESC
LIMIT 1
