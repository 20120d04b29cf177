"""Celery tasks: thin wiring of ``graph`` (Neo4j) and ``engine`` (computation).

A refresh is ``refresh`` (lock, provenance, plan) followed by the chain
``export_snapshot -> train_and_score -> write_profiles``; steps pass file paths, never tensors.
Every step is idempotent (files are overwritten whole, write-back converges), renews the
refresh lock, reports progress, and stops at its start if a cancel was requested. Transient
Neo4j/Redis errors retry with backoff; anything else fails the run, releasing the lock.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import redis
from celery import Task
from celery.exceptions import Ignore

from engine.pipeline import (
    ModelState,
    PipelineConfig,
    load_result,
    run_full,
    run_incremental,
    save_result,
)  # fmt: skip
from engine.run_evaluation import EvaluationConfig, evaluate_run
from engine.snapshot import Snapshot
from engine.train import TrainConfig
from graph.client import GraphClient
from graph.export import ChangedSince, WholeGraph
from graph.export import export_snapshot as export_graph
from graph.ingest import ingest_events
from graph.stream import StreamConsumer
from graph.writeback import Interest, ProfileRow, finish_run, start_run
from graph.writeback import write_profiles as write_rows
from profilegraph.errors import ProfilegraphError
from profilegraph.settings import Settings, load_settings
from workers.app import app
from workers.payloads import EvaluateRequest, PayloadError, RefreshRequest, StepPayload, validate
from workers.runs import RunBoard

log = logging.getLogger("profilegraph.workers")
TRANSIENT = (redis.ConnectionError, redis.TimeoutError)
MODEL = "lightgcn+social / influence-sage"


def _settings() -> Settings:
    return load_settings()


def _board(settings: Settings) -> RunBoard:
    return RunBoard(redis.Redis.from_url(settings.redis.url()), settings.refresh.lock_ttl_s)


def _run_dir(settings: Settings, run_id: str) -> Path:
    return settings.state / "runs" / run_id


def _is_transient(error: BaseException) -> bool:
    return isinstance(error, TRANSIENT) or (
        isinstance(error, ProfilegraphError) and error.transient
    )


class RunStep(Task):  # type: ignore[misc]
    """A refresh step: retries transient failures; any other failure ends the run."""

    abstract = True
    max_retries = 5

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as error:
            if _is_transient(error):
                raise self.retry(exc=error, countdown=min(2**self.request.retries, 30)) from error
            raise

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any,
                   einfo: Any) -> None:  # fmt: skip
        payload = args[0] if args else kwargs.get("payload")
        run_id = payload.get("run_id") if isinstance(payload, dict) else None
        if not run_id:
            return
        settings = _settings()
        board = _board(settings)
        board.update(run_id, state="failed", message=f"{type(exc).__name__}: {exc}")
        try:
            with GraphClient(settings.neo4j) as client:
                finish_run(client, run_id, status="failed", metrics={"error": str(exc)},
                           timings={}, profiles_written=0)  # fmt: skip
        finally:
            board.release(run_id)


def _begin(
    task: Task, raw: dict[str, Any], step: str, percent: int
) -> tuple[StepPayload, Settings, RunBoard]:
    """Validation, cancel point, lock renewal and progress report at the start of every step."""
    payload = validate(StepPayload, raw)
    settings = _settings()
    board = _board(settings)
    if board.cancel_requested(payload.run_id):
        board.update(payload.run_id, state="cancelled", step=step, message="cancelled")
        with GraphClient(settings.neo4j) as client:
            finish_run(client, payload.run_id, status="cancelled", metrics={}, timings={},
                       profiles_written=0)  # fmt: skip
        board.release(payload.run_id)
        raise Ignore()  # the rest of the chain does not run
    board.renew(payload.run_id)
    # which process runs the step, and how often it started (> 1: it was redelivered)
    board.update(payload.run_id, state="running", step=step, percent=percent, pid=os.getpid())
    board.count(payload.run_id, f"{step}_starts")
    task.update_state(state="PROGRESS", meta={"run_id": payload.run_id, "step": step,
                                              "percent": percent})  # fmt: skip
    return payload, settings, board


@app.task(name="workers.tasks.refresh", bind=True, base=RunStep)
def refresh(self: Task, request: dict[str, Any]) -> dict[str, Any]:
    """Start a refresh unless one is running: returns ``{"run_id", "state"}``."""
    req = validate(RefreshRequest, request).with_run_id()
    settings = _settings()
    board = _board(settings)
    board.count(req.run_id, "refresh_attempts")  # > 1: retried (e.g. Neo4j was unreachable)
    holder = board.acquire(req.run_id)
    if holder is not None:
        board.update(req.run_id, state="refused", mode=req.mode, running=holder,
                     message=f"refresh {holder} is still running")  # fmt: skip
        return {"run_id": req.run_id, "state": "refused", "running": holder}
    try:
        mode, base = req.mode, ""
        with GraphClient(settings.neo4j) as client:
            watermark = int(client.read("read_ingest_seq")[0]["seq"])
            full = client.read("latest_complete_run", kinds=["full"])
            if mode == "incremental" and not full:
                mode = "full"  # nothing to build on yet
            if mode == "incremental":
                base = full[0]["run_id"]
                last = client.read("latest_complete_run", kinds=["full", "incremental"])
                since = int(last[0]["watermark"])
            params = {"mode": mode, "requested": req.mode, "source": req.source,
                      "base_run_id": base, "max_epochs": req.max_epochs}  # fmt: skip
            start_run(client, req.run_id, kind=mode, model=MODEL, params=params,
                      watermark=watermark)  # fmt: skip
        board.update(req.run_id, state="queued", mode=mode, step="export", percent=0,
                     watermark=watermark)  # fmt: skip
        if mode == "incremental":
            board.update(req.run_id, since=since)
        payload = StepPayload(run_id=req.run_id, mode=mode, watermark=watermark,
                              base_run_id=base, max_epochs=req.max_epochs).model_dump()  # fmt: skip
        (export_snapshot.s(payload) | train_and_score.s() | write_profiles.s()).apply_async()
    except BaseException:
        board.release(req.run_id)
        raise
    return {"run_id": req.run_id, "state": "started", "mode": mode}


@app.task(name="workers.tasks.export_snapshot", bind=True, base=RunStep)
def export_snapshot(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    step, settings, board = _begin(self, payload, "export", 5)
    if step.mode == "full":
        selection: Any = WholeGraph()
    else:
        since = int(board.get(step.run_id).get("since", 0))
        selection = ChangedSince(watermark=since, hops=settings.refresh.hops)
    with GraphClient(settings.neo4j) as client:
        snapshot = export_graph(client, selection)
    path = snapshot.save(_run_dir(settings, step.run_id) / "snapshot.pt")
    board.update(step.run_id, users=snapshot.num_nodes("user"))
    return step.model_copy(update={"snapshot_path": str(path)}).model_dump()


@app.task(name="workers.tasks.train_and_score", bind=True, base=RunStep)
def train_and_score(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    """Train (full) or fine-tune (incremental) and compute profiles. Runs on the gpu queue;
    CUDA is first touched here, inside the task, never at import or in a parent process."""
    step, settings, board = _begin(self, payload, "train", 20)
    snapshot = Snapshot.load(Path(step.snapshot_path))
    if snapshot.num_nodes("user") == 0:  # nothing changed since the last refresh
        return step.model_dump()
    refresh_cfg = settings.refresh
    config = PipelineConfig(
        train=TrainConfig(max_epochs=step.max_epochs or refresh_cfg.max_epochs, patience=20,
                          eval_every=5, lr=5e-3, device=settings.training.device,
                          seed=settings.training.seed),
        finetune_epochs=refresh_cfg.finetune_epochs,
    )  # fmt: skip
    run_dir = _run_dir(settings, step.run_id)

    def on_step(name: str) -> None:
        percent = {"train": 25, "influence": 60, "profile": 70, "finetune": 30}.get(name, 50)
        board.update(step.run_id, step=name, percent=percent)

    def on_epoch(record: dict[str, float]) -> None:
        done = (record["epoch"] + 1) / config.train.max_epochs
        board.update(step.run_id, step=f"train epoch {int(record['epoch']) + 1}",
                     percent=25 + int(35 * done))  # fmt: skip

    if step.mode == "full":
        result = run_full(snapshot, config, run_id=step.run_id, on_step=on_step,
                          on_epoch=on_epoch)  # fmt: skip
        assert result.state is not None
        result.state.save(run_dir / "state.pt")
    else:
        state = ModelState.load(_run_dir(settings, step.base_run_id) / "state.pt")
        result = run_incremental(snapshot, state, config, on_step=on_step)
    path = save_result(result, run_dir / "result.pt")
    return step.model_copy(update={"result_path": str(path)}).model_dump()


def profile_rows(result_path: Path) -> tuple[list[ProfileRow], dict[str, Any], dict[str, float]]:
    saved = load_result(result_path)
    c = saved.columns
    rows = []
    for i, user_id in enumerate(saved.user_ids):
        interests = [
            Interest(name, weight, why["items"], why["friends"], adopted)
            for name, weight, why, adopted in zip(
                c["interests"][i], c["interest_weights"][i], c["explanation"][i],
                c["interest_adoptions"][i], strict=True,
            )
        ]  # fmt: skip
        rows.append(ProfileRow(user_id=user_id, embedding=c["embedding"][i].tolist(), fields={
            "influence": float(c["influence"][i]), "influence_rank": int(c["influence_rank"][i]),
            "segment": int(c["segment"][i]), "segment_label": c["segment_label"][i],
            "uncertainty": float(c["uncertainty"][i]), "explore": c["explore"][i],
            "adoptions": int(c["adoptions"][i]), "cold_start": bool(c["cold_start"][i]),
        }, interests=interests))  # fmt: skip
    return rows, saved.metrics, saved.timings


@app.task(name="workers.tasks.write_profiles", bind=True, base=RunStep)
def write_profiles(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    step, settings, board = _begin(self, payload, "write", 80)
    rows, metrics, timings = (
        profile_rows(Path(step.result_path)) if step.result_path else ([], {}, {})
    )
    total, size = max(1, len(rows)), settings.refresh.write_batch_size
    with GraphClient(settings.neo4j) as client:
        report = write_rows(
            client, step.run_id, step.watermark, rows, batch_size=size,
            after_batch=lambda n: board.update(step.run_id,
                                               percent=80 + min(19, 19 * n * size // total)),
        )  # fmt: skip
        timings = {**timings, "write_s": report.seconds}
        finish_run(client, step.run_id, status="complete", metrics=metrics, timings=timings,
                   profiles_written=report.written)  # fmt: skip
    board.update(step.run_id, state="complete", step="done", percent=100,
                 written=report.written, skipped_newer=report.skipped_newer)  # fmt: skip
    board.release(step.run_id)
    return {"run_id": step.run_id, "written": report.written, "mode": step.mode}


@app.task(name="workers.tasks.evaluate", autoretry_for=TRANSIENT, retry_backoff=True)
def evaluate(request: dict[str, Any]) -> dict[str, Any]:
    """Evaluate a run from its snapshot and result files; the metrics go onto its
    :ProfileRun (``evaluation``), the report (markdown, JSON, plots) into ``out_dir``."""
    from profilegraph.report import write_report  # matplotlib: only where reports are written

    req = validate(EvaluateRequest, request)
    settings = _settings()
    run_dir = _run_dir(settings, req.run_id)
    if not (run_dir / "result.pt").exists():
        raise PayloadError(f"run_id: run {req.run_id!r} has no result in {run_dir} "
                           "(unknown, unfinished, or nothing changed in it)")  # fmt: skip
    config = EvaluationConfig(
        item_ranking_seeds=tuple(req.item_ranking_seeds),
        train=TrainConfig(max_epochs=req.max_epochs, patience=20, eval_every=5, lr=5e-3,
                          device=settings.training.device, seed=settings.training.seed),
    )  # fmt: skip
    evaluation = evaluate_run(Snapshot.load(run_dir / "snapshot.pt"), config)
    out = Path(req.out_dir) if req.out_dir else run_dir / "evaluation"
    files = write_report(evaluation, load_result(run_dir / "result.pt"), out)
    with GraphClient(settings.neo4j) as client:
        client.write("record_run_evaluation", run_id=req.run_id,
                     evaluation=json.dumps(evaluation, sort_keys=True))  # fmt: skip
    return {"run_id": req.run_id, "files": [str(f) for f in files], "evaluation": evaluation}


@app.task(name="workers.tasks.ingest_batch", autoretry_for=TRANSIENT, retry_backoff=True)
def ingest_batch(events: list[Any], source: str = "task") -> dict[str, Any]:
    """Validate and ingest raw events; bad ones are dead-lettered, never retried."""
    if not isinstance(events, list):
        raise TypeError(f"events must be a list of events (got {type(events).__name__})")
    with GraphClient(_settings().neo4j) as client:
        report = ingest_events(client, events, source=source)
    return {"applied": report.applied, "duplicates": report.duplicates,
            "rejected": report.rejected, "last_seq": report.last_seq}  # fmt: skip


@app.task(name="workers.tasks.consume_events", autoretry_for=TRANSIENT, retry_backoff=True)
def consume_events() -> dict[str, Any]:
    """Drain the Redis event stream into Neo4j (acknowledged after commit)."""
    settings = _settings()
    with GraphClient(settings.neo4j) as client:
        conn = redis.Redis.from_url(settings.redis.url())
        report = StreamConsumer(client, conn).run(until_empty=True)
    return {"applied": report.applied, "duplicates": report.duplicates,
            "rejected": report.rejected}  # fmt: skip
