"""A profile refresh as plain functions: plan, export, score, write.

``plan_refresh`` takes the one-refresh-at-a-time lock, chooses the mode and base run, reads the
ingest watermark once and records the run's provenance; it returns the first
:class:`StepPayload`, which then passes through ``export_step -> score_step -> write_step``.
Each step starts with :func:`begin_step` (validation, cancel point, lock renewal, progress),
derives its files from the run id (never from a message), and is idempotent: files are
overwritten whole and write-back converges. ``fail_run`` ends a run that raised.

The Celery tasks in ``workers.tasks`` are wiring around these; a test or a script can run a
whole refresh by calling them in order.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from core.errors import PayloadError, ProfilegraphError
from core.settings import SENSITIVE, Settings
from engine.dimensions.review_text import ReviewRows, TextModel, fit_text_model
from engine.pipeline import (
    ModelState,
    run_full,
    run_incremental,
    save_result,
)
from engine.snapshot import ReviewDigest, Snapshot
from graph.client import GraphClient
from graph.export import export_snapshot
from graph.ingest import close_epoch
from graph.selections import ChangedSince, Consent, Selection, WholeGraph
from graph.writeback import (
    clear_unconsented,
    finish_run,
    read_run,
    start_run,
    write_profiles,
)
from jobs.payloads import RefreshRequest, StepPayload, validate
from jobs.pseudonyms import Pseudonyms, pseudonymise
from jobs.recipe import pipeline_config, text_config
from jobs.result_profiles import result_profiles
from jobs.runs import TERMINAL, RunBoard, duration_text

MODEL = "lightgcn+social / influence-sage"
# progress (percent) at the start of each named step
PERCENT = {
    "export": 5,
    "train": 20,
    "finetune": 30,
    "influence": 60,
    "profile": 70,
    "next": 75,
    "write": 80,
}


class LockLost(ProfilegraphError):
    """A redelivered step's run no longer holds the refresh lock: another run started while
    its worker was gone. The run fails; the other one goes on."""


class StepSkipped(Exception):
    """The step must not run (its run was cancelled, or has already ended: a redelivered
    message); the rest of the chain must not run either. Not a failure."""


@dataclass(frozen=True)
class RunFiles:
    """Where a run's files live: ``<state>/runs/<run_id>/``, nowhere else."""

    folder: Path

    @property
    def snapshot(self) -> Path:
        return self.folder / "snapshot.pt"

    @property
    def result(self) -> Path:
        return self.folder / "result.pt"

    @property
    def state(self) -> Path:
        return self.folder / "state.pt"

    @property
    def text_model(self) -> Path:
        return self.folder / "text_model.pt"

    @property
    def evaluation(self) -> Path:
        return self.folder / "evaluation"


def run_files(settings: Settings, run_id: str, *, create: bool = False) -> RunFiles:
    """The files of a run whose id passed :data:`jobs.payloads.RUN_ID` (checked again here);
    ``create`` makes its folder, private to this user (snapshots hold who did what)."""
    runs = (settings.state / "runs").resolve()
    folder = (runs / run_id).resolve()
    if folder.parent != runs:
        raise PayloadError(f"run_id: {run_id!r} does not name a folder under {runs}")
    if create:
        runs.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.mkdir(mode=0o700, exist_ok=True)
    return RunFiles(folder)


def plan_refresh(
    settings: Settings, board: RunBoard, request: RefreshRequest, *, claim: str | None = None
) -> tuple[dict[str, Any], StepPayload | None]:
    """Take the lock and plan the run: ``(answer, first step)``; no step when refused.
    ``claim``: what identifies this request (the task's id, the same when Celery retries it):
    a run id another request used already is refused, and that run is left alone."""
    req = request.with_run_id()
    claimed = board.claim(req.run_id, claim or uuid.uuid4().hex)
    if claimed == "taken":
        return _reused(req.run_id), None
    board.count(req.run_id, "refresh_attempts")  # > 1: retried (e.g. Neo4j was unreachable)
    holder = board.acquire(req.run_id)
    if holder is not None:
        board.update(
            req.run_id,
            state="refused",
            mode=req.mode,
            running=holder,
            message=f"refresh {holder} is still running",
        )
        return {"run_id": req.run_id, "state": "refused", "running": holder}, None
    try:
        mode, base, since, previous = req.mode, "", None, ""
        with GraphClient(settings.neo4j) as client:
            if claimed == "new" and read_run(client, req.run_id) is not None:
                board.release(req.run_id)  # a run of old (its claim expired): never again
                return _reused(req.run_id), None
            watermark = close_epoch(client)
            full = client.read("latest_complete_run", kinds=["full"])
            if mode == "incremental" and not full:
                mode = "full"  # nothing to build on yet
            if mode == "full" and full:  # carries on the previous full run's exploration
                previous = full[0]["run_id"]
            if mode == "incremental":
                base = full[0]["run_id"]
                last = client.read("latest_complete_run", kinds=["full", "incremental"])
                since = int(last[0]["watermark"])
            params = {
                "mode": mode,
                "requested": req.mode,
                "source": req.source,
                "base_run_id": base,
                "previous_run_id": previous,
                "max_epochs": req.max_epochs,
            }
            start_run(
                client, req.run_id, kind=mode, model=MODEL, params=params, watermark=watermark
            )
        step = StepPayload(
            run_id=req.run_id,
            mode=mode,
            watermark=watermark,
            since=since,
            base_run_id=base,
            previous_run_id=previous,
            max_epochs=req.max_epochs,
        )
        board.update(
            req.run_id,
            state="queued",
            mode=mode,
            step="export",
            percent=0,
            watermark=watermark,
            since="" if since is None else since,
        )
    except BaseException:
        board.release(req.run_id)
        raise
    return {"run_id": req.run_id, "state": "started", "mode": mode}, step


def _reused(run_id: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "state": "refused",
        "reason": f"run_id {run_id!r} was already used by another request: a run id names one "
        "run (leave it out and one is chosen)",
    }


def begin_step(settings: Settings, board: RunBoard, raw: object, name: str) -> StepPayload:
    """Validate a step's payload, check it belongs to a live run, stop if cancelled (raises
    :class:`StepSkipped`), renew the lock and report progress."""
    step = validate(StepPayload, raw)
    info = board.get(step.run_id)
    if not info or info.get("watermark") != str(step.watermark):
        raise PayloadError(
            f"run_id: {step.run_id!r} is not a planned run at watermark "
            f"{step.watermark} (known: {info.get('watermark', 'none')})"
        )
    if info.get("state") in TERMINAL:
        raise StepSkipped(f"run {step.run_id} is already {info['state']}")
    stop_if_cancelled(settings, board, step.run_id, name)
    # A step redelivered after its worker died finds the lock lapsed (the TTL ran out while no
    # one renewed it) and takes it back; if another run took it meanwhile, this run ends here.
    holder = board.acquire(step.run_id)
    if holder is not None:
        raise LockLost(
            f"run {step.run_id} lost the refresh lock while no worker ran its {name} step "
            f"(a worker died) and run {holder} holds it now"
        )
    board.renew(step.run_id)
    # which process runs the step, and how often it started (> 1: it was redelivered)
    board.update(step.run_id, state="running", step=name, percent=PERCENT[name], pid=os.getpid())
    board.count(step.run_id, f"{name}_starts")
    return step


def stop_if_cancelled(settings: Settings, board: RunBoard, run_id: str, where: str) -> None:
    """End the run as cancelled and raise :class:`StepSkipped` if a cancel was requested;
    checked at each step's start and between stages and epochs of training."""
    if not board.cancel_requested(run_id):
        return
    board.update(run_id, state="cancelled", step=where, message=f"cancelled during {where}")
    with GraphClient(settings.neo4j) as client:
        finish_run(client, run_id, status="cancelled", metrics={}, timings={}, profiles_written=0)
    board.release(run_id)
    raise StepSkipped(f"run {run_id} was cancelled during {where}")


def consent(settings: Settings) -> Consent:
    privacy = settings.privacy
    return Consent(default=privacy.consent_default, as_context=privacy.unconsented_as_context)


def export_step(settings: Settings, board: RunBoard, step: StepPayload) -> StepPayload:
    """The run's snapshot: the whole graph, or what changed since ``step.since`` plus hops."""
    selection: Selection
    if step.mode == "full":
        selection = WholeGraph()
    else:
        assert step.since is not None  # the payload's validator guarantees it
        selection = ChangedSince(watermark=step.since, hops=settings.refresh.hops)
    with board.heartbeat(step.run_id), GraphClient(settings.neo4j) as client:
        snapshot = export_snapshot(
            client,
            selection,
            consent=consent(settings),
            sensitive=SENSITIVE if settings.privacy.sensitive_in_snapshots else (),
            reviews=review_digest(settings, step),
            watermark=step.watermark,
            chunk_size=settings.neo4j.export_chunk_size,
            workers=settings.neo4j.export_workers,
        )
    # who is who stays here (the cpu side): the file the score step reads names no one
    lineage = step.base_run_id or step.previous_run_id
    previous = Pseudonyms.load(run_files(settings, lineage).folder) if lineage else None
    files = run_files(settings, step.run_id, create=True)
    pseudonymise(snapshot, previous).save(files.folder)
    snapshot.save(files.snapshot)
    board.update(step.run_id, users=snapshot.num_nodes("user"))
    return step


def review_digest(settings: Settings, step: StepPayload) -> Callable[[ReviewRows], ReviewDigest]:
    """What the export does with the reviews' words: a full run fits the text model on them
    (kept in its folder: scorers' weights and the common terms, no one's words); an incremental
    run applies its base run's, so its users' figures are the ones a full run gave them."""
    mine = run_files(settings, step.run_id, create=True).text_model
    base = run_files(settings, step.base_run_id).text_model if step.base_run_id else None

    def digest(rows: ReviewRows) -> ReviewDigest:
        if step.mode != "full" and base is not None and base.exists():
            model = TextModel.from_dict(torch.load(base, weights_only=True))
        else:  # a full run, or a base run from before text models
            model = fit_text_model(rows, text_config(settings))
            tmp = mine.with_suffix(".tmp")
            torch.save(model.to_dict(), tmp)
            tmp.replace(mine)
        return model.digest(rows)

    return digest


def score_step(settings: Settings, board: RunBoard, step: StepPayload) -> StepPayload:
    """Train (full) or fine-tune (incremental) and compute profiles into the result file."""
    files = run_files(settings, step.run_id)
    snapshot = Snapshot.load(files.snapshot)
    if snapshot.num_nodes("user") == 0:  # nothing changed since the last refresh
        return step
    config = pipeline_config(settings, step.max_epochs)

    def on_step(name: str) -> None:
        stop_if_cancelled(settings, board, step.run_id, name)
        board.update(step.run_id, step=name, percent=PERCENT.get(name, 50))

    def on_epoch(record: dict[str, float]) -> None:
        epoch = int(record["epoch"]) + 1
        stop_if_cancelled(settings, board, step.run_id, f"train epoch {epoch}")
        done = epoch / config.train.max_epochs
        board.update(
            step.run_id,
            step=f"train epoch {epoch}",
            percent=25 + int(35 * done),
            eta_s=round(record.get("eta_s", 0)),
        )

    def on_estimate(seconds: float) -> None:
        # shown before the first epoch ends: how long training may take at its first pace
        board.update(
            step.run_id, step=f"train (at most {duration_text(seconds)})", eta_s=round(seconds)
        )

    with board.heartbeat(step.run_id):
        if step.mode == "full":
            previous = _previous_state(settings, step.previous_run_id)
            result = run_full(
                snapshot,
                config,
                run_id=step.run_id,
                on_step=on_step,
                on_epoch=on_epoch,
                on_estimate=on_estimate,
                # the exploration the previous full run showed, and where training starts
                shown=list(previous.next_model.shown) if previous and previous.next_model else [],
                previous=previous if settings.refresh.warm_start else None,
            )
            assert result.state is not None
            result.state.save(files.state)
        else:
            state = ModelState.load(run_files(settings, step.base_run_id).state)
            result = run_incremental(snapshot, state, config, on_step=on_step)
    save_result(result, files.result)
    return step.model_copy(update={"scored": True})


def _previous_state(settings: Settings, previous_run_id: str) -> ModelState | None:
    """The previous full run's model state (None: no previous run, or its state is gone)."""
    if not previous_run_id:
        return None
    path = run_files(settings, previous_run_id).state
    return ModelState.load(path) if path.exists() else None


def write_step(settings: Settings, board: RunBoard, step: StepPayload) -> dict[str, Any]:
    """Write the profiles (never behind a newer stored one) and complete the run."""
    files = run_files(settings, step.run_id)
    pseudonyms = Pseudonyms.load(files.folder)
    if step.scored and pseudonyms is None:
        raise FileNotFoundError(f"run {step.run_id}: its pseudonym mapping is gone")
    size = settings.refresh.write_batch_size
    rows, total, metrics, timings = (
        result_profiles(files.result, pseudonyms, batch_size=size)
        if step.scored and pseudonyms
        else (iter(()), 0, {}, {})
    )
    total = max(1, total)

    def after_batch(n: int) -> None:
        board.update(step.run_id, percent=80 + min(19, 19 * n * size // total))

    with board.heartbeat(step.run_id), GraphClient(settings.neo4j) as client:
        report = write_profiles(
            client,
            step.run_id,
            step.watermark,
            rows,
            batch_size=size,
            workers=settings.neo4j.write_workers,
            after_batch=after_batch,
            consent_default=settings.privacy.consent_default,
        )
        cleared = clear_unconsented(client, consent_default=settings.privacy.consent_default)
        timings = {**timings, "write_s": report.seconds}
        finish_run(
            client,
            step.run_id,
            status="complete",
            metrics=metrics,
            timings=timings,
            profiles_written=report.written,
        )
    board.update(
        step.run_id,
        state="complete",
        step="done",
        percent=100,
        written=report.written,
        unchanged=report.unchanged,
        skipped_newer=report.skipped_newer,
        cleared_unconsented=cleared,
    )
    board.release(step.run_id)
    return {
        "run_id": step.run_id,
        "written": report.written,
        "unchanged": report.unchanged,
        "mode": step.mode,
    }


def refresh_here(settings: Settings, request: RefreshRequest) -> str:
    """A whole refresh in this process, step after step (scripts, benches, tests): the run id;
    a refusal or a failure raises (a failed run is recorded as failed and its lock released)."""
    board = RunBoard.connect(settings)
    answer, step = plan_refresh(settings, board, request)
    if step is None:
        raise RuntimeError(f"refresh refused: {answer}")
    try:
        write_step(settings, board, score_step(settings, board, export_step(settings, board, step)))
    except BaseException as error:
        fail_run(settings, board, step.run_id, error)
        raise
    return step.run_id


def fail_run(settings: Settings, board: RunBoard, run_id: str, error: BaseException) -> None:
    """Record a run as failed (Redis and its :ProfileRun) and release its lock."""
    board.update(run_id, state="failed", message=f"{type(error).__name__}: {error}")
    try:
        with GraphClient(settings.neo4j) as client:
            finish_run(
                client,
                run_id,
                status="failed",
                metrics={"error": str(error)},
                timings={},
                profiles_written=0,
            )
    finally:
        board.release(run_id)
