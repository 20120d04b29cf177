// purpose: One profile run's provenance record.
// mode: read
// params: run_id STRING
// returns: run_id, kind, status, model, params, metrics, timings, watermark, started_at DATETIME,
//          finished_at DATETIME (null while running), profiles_written
MATCH (r:ProfileRun {run_id: $run_id})
RETURN r.run_id AS run_id, r.kind AS kind, r.status AS status, r.model AS model,
       r.params AS params, r.metrics AS metrics, r.timings AS timings,
       r.watermark AS watermark, r.started_at AS started_at,
       r.finished_at AS finished_at, r.profiles_written AS profiles_written
