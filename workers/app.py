"""The Celery app: Redis broker and result backend, JSON only, two queues.

``cpu`` takes ingest, export, write-back, evaluation and the refresh orchestration; ``gpu``
takes training and scoring. A GPU worker runs one task at a time in one child process
(prefork, concurrency 1): CUDA is touched only inside the task, so the parent that forks never
initialises it, and a child that dies (killed, out of memory, a worker stopped cold) has its
task put back on the queue by the parent, as on the cpu queue. (A ``solo`` pool ran the task in
the worker itself: stopping that worker failed the run with "does not implement kill_job".)
With no GPU the same tasks run on CPU, so the ``gpu`` queue works on CI too.

Nothing is configured at import: each entry point (the ``worker`` and ``beat`` commands, a
client that sends tasks) builds its settings once and calls :func:`configure`, which points
the one task-registering ``app`` at the configured Redis and keeps the settings for the tasks
(:func:`worker_settings`). Prefork children inherit both.
"""

from __future__ import annotations

from celery import Celery
from celery.schedules import crontab

from core.errors import ConfigError
from core.settings import Settings
from workers import transport

QUEUES = ("cpu", "gpu")
GPU_TASKS = ("workers.tasks.score_step",)

# The app the tasks register on; unconfigured (no broker) until configure() is called.
app = Celery("profilegraph", include=["workers.tasks"])
_settings: Settings | None = None


def configure(settings: Settings) -> Celery:
    """Point :data:`app` at ``settings`` (an entry point calls this once) and return it."""
    global _settings
    _settings = settings
    _apply(app, settings)
    return app


def worker_settings() -> Settings:
    """The settings the process's entry point configured the app with."""
    if _settings is None:
        raise ConfigError("the Celery app is not configured: call workers.app.configure(settings)")
    return _settings


def make_app(settings: Settings) -> Celery:
    """A separate configured app (for a client that only sends tasks and pings workers)."""
    return _apply(Celery("profilegraph"), settings)


def _apply(app: Celery, settings: Settings) -> Celery:
    url = settings.redis.url()
    refresh = settings.refresh
    app.conf.update(
        # Redis, through a transport that dead-letters a malformed message (workers.transport)
        broker_url=url.replace("redis://", f"{transport.SCHEME}://", 1),
        result_backend=url,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,  # a task is acknowledged when done, not when received...
        task_reject_on_worker_lost=True,  # ...so a killed worker's task is redelivered
        worker_prefetch_multiplier=1,
        # longer than the longest task, or Redis would redeliver a task still running
        broker_transport_options={"visibility_timeout": refresh.lock_ttl_s * 2},
        result_expires=24 * 3600,
        task_track_started=True,
        # task events, so Flower (profilegraph flower) shows each task and its state
        worker_send_task_events=True,
        task_send_sent_event=True,
        task_default_queue="cpu",
        task_routes={name: {"queue": "gpu"} for name in GPU_TASKS},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        timezone="UTC",
        beat_schedule={
            "incremental-refresh": {
                "task": "workers.tasks.refresh",
                "schedule": refresh.incremental_every_min * 60,
                "kwargs": {"request": {"mode": "incremental", "source": "beat"}},
            },
            "full-refresh": {
                "task": "workers.tasks.refresh",
                "schedule": crontab(minute=0, hour=refresh.full_at_hour),
                "kwargs": {"request": {"mode": "full", "source": "beat"}},
            },
            "housekeeping": {  # retention of run files and dead letters (jobs.retention)
                "task": "workers.tasks.housekeeping",
                "schedule": crontab(minute=30, hour=refresh.full_at_hour),
            },
        },
    )
    return app
