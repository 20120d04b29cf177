"""Celery tasks: wiring only. Each validates its message, calls a plain function of ``jobs`` or
``graph`` with the worker's settings, and reports.

A refresh is ``refresh`` (lock, provenance, plan) followed by the chain
``export_step -> score_step -> write_step`` (see ``jobs.refresh``); steps pass the run's state
(:class:`jobs.payloads.StepPayload`), never file paths or tensors. Every task retries the same
transient errors (:data:`TRANSIENT`) with backoff; anything else fails at once (a refresh step's
failure ends its run and releases the lock).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import redis
from celery import Task
from celery.exceptions import Ignore

import core.errors
import graph.ingest
import jobs.consume
import jobs.evaluation
import jobs.refresh
import jobs.retention
from core.errors import PayloadError
from core.settings import Settings
from graph.client import GraphClient
from graph.kafka_source import KafkaSource
from graph.source import EventsSource, Source
from graph.stream import RedisStreamSource
from jobs.payloads import ConsumeKafkaRequest, EvaluateRequest, RefreshRequest, validate
from jobs.runs import RunBoard
from workers.app import app, worker_settings

log = logging.getLogger("profilegraph.workers")

# One retry policy for every task: the broker's and the project's transient errors (Neo4j
# unreachable or momentarily failing, mapped by graph.errors).
TRANSIENT: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    *core.errors.TRANSIENT,
)
MAX_RETRIES = 5


class ProfilegraphTask(Task):  # type: ignore[misc]
    """Retries :data:`TRANSIENT` errors with exponential backoff (1, 2, 4 ... 30 s)."""

    abstract = True
    max_retries = MAX_RETRIES

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except TRANSIENT as error:
            raise self.retry(exc=error, countdown=min(2**self.request.retries, 30)) from error


class RunStep(ProfilegraphTask):
    """A refresh step: a failure other than a bad message ends the run."""

    abstract = True

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        if isinstance(exc, PayloadError):
            return  # a message that names no live run (forged, stale): leave every run alone
        payload = args[0] if args else kwargs.get("payload")
        run_id = payload.get("run_id") if isinstance(payload, dict) else None
        if run_id:
            settings = worker_settings()
            jobs.refresh.fail_run(settings, RunBoard.connect(settings), run_id, exc)


def _run_step(task: Task, raw: object, name: str, work: Callable[..., Any]) -> Any:
    """Begin the step (validation, cancel point, lock, progress), run ``work``; a step that must
    not run or was cancelled midway ends the chain quietly."""
    settings = worker_settings()
    board = RunBoard.connect(settings)
    try:
        step = jobs.refresh.begin_step(settings, board, raw, name)
        task.update_state(state="PROGRESS", meta={"run_id": step.run_id, "step": name})
        return work(settings, board, step)
    except jobs.refresh.StepSkipped as skipped:
        log.info("step %s skipped: %s", name, skipped)
        raise Ignore() from None  # the rest of the chain does not run


@app.task(name="workers.tasks.refresh", bind=True, base=RunStep)
def refresh(self: Task, request: dict[str, Any]) -> dict[str, Any]:
    """Start a refresh unless one is running: returns ``{"run_id", "state"}``."""
    settings = worker_settings()
    req = validate(RefreshRequest, request)
    # the task id claims the run id: a retry of this task is this request, another is not
    answer, step = jobs.refresh.plan_refresh(
        settings, RunBoard.connect(settings), req, claim=self.request.id
    )
    if step is not None:
        payload = step.model_dump()
        (export_step.s(payload) | score_step.s() | write_step.s()).apply_async()
    return answer


@app.task(name="workers.tasks.export_step", bind=True, base=RunStep)
def export_step(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    return _run_step(self, payload, "export", jobs.refresh.export_step).model_dump()


@app.task(name="workers.tasks.score_step", bind=True, base=RunStep)
def score_step(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    """Runs on the gpu queue; CUDA is first touched here, never at import or in a parent."""
    return _run_step(self, payload, "train", jobs.refresh.score_step).model_dump()


@app.task(name="workers.tasks.write_step", bind=True, base=RunStep)
def write_step(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    return _run_step(self, payload, "write", jobs.refresh.write_step)


@app.task(name="workers.tasks.evaluate_run", base=ProfilegraphTask)
def evaluate_run(request: dict[str, Any]) -> dict[str, Any]:
    """Evaluate a completed run (see ``jobs.evaluation.evaluate_run``)."""
    req = validate(EvaluateRequest, request)
    settings = worker_settings()
    return jobs.evaluation.evaluate_run(settings, req, RunBoard.connect(settings))


@app.task(name="workers.tasks.ingest_batch", base=ProfilegraphTask)
def ingest_batch(events: list[Any], source: str = "task") -> dict[str, Any]:
    """Validate and ingest raw events; bad ones are dead-lettered, never retried."""
    if not isinstance(events, list):
        raise PayloadError(f"events: must be a list of events (got {type(events).__name__})")
    settings = worker_settings()
    submitted = EventsSource(events, source, currency=settings.value.currency)
    return _consume(settings, submitted).as_dict()


@app.task(name="workers.tasks.consume_stream", base=ProfilegraphTask)
def consume_stream() -> dict[str, Any]:
    """Drain the Redis event stream into Neo4j (acknowledged after commit)."""
    settings = worker_settings()
    with redis.Redis.from_url(settings.redis.url()) as conn:
        stream = RedisStreamSource(conn, currency=settings.value.currency, until_empty=True)
        return _consume(settings, stream).as_dict()


@app.task(name="workers.tasks.consume_kafka", base=ProfilegraphTask)
def consume_kafka(topic: str | None = None, idle_s: float = 5.0) -> dict[str, Any]:
    """Drain a Kafka topic into Neo4j (positions commit with the data; graph.kafka_source)
    until nothing new arrived for ``idle_s``."""
    settings = worker_settings()
    req = validate(ConsumeKafkaRequest, {"topic": topic or settings.kafka.topic, "idle_s": idle_s})
    topic_source = KafkaSource.from_settings(settings, req.topic, until_idle_s=req.idle_s)
    return _consume(settings, topic_source).as_dict()


def _consume(settings: Settings, source: Source) -> graph.ingest.IngestReport:
    with GraphClient(settings.neo4j) as client:
        return jobs.consume.consume(settings, client, source)


@app.task(name="workers.tasks.housekeeping", base=ProfilegraphTask)
def housekeeping() -> dict[str, Any]:
    """Retention: old run folders, export mappings and dead letters go (jobs.retention)."""
    return dataclasses.asdict(jobs.retention.housekeeping(worker_settings()))
