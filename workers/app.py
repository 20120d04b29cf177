"""The Celery app: Redis broker and result backend, JSON only, two queues.

``cpu`` takes ingest, export, write-back, evaluation and the refresh orchestration; ``gpu``
takes training and scoring. A GPU worker runs one task at a time in a ``solo`` pool (no fork
after CUDA is initialised; CUDA is touched only inside the task). With no GPU the same tasks
run on CPU, so the ``gpu`` queue works on CI too.
"""

from __future__ import annotations

from celery import Celery
from celery.schedules import crontab

from profilegraph.settings import Settings, load_settings

QUEUES = ("cpu", "gpu")
GPU_TASKS = ("workers.tasks.train_and_score",)


def make_app(settings: Settings | None = None) -> Celery:
    settings = settings or load_settings()
    url = settings.redis.url()
    app = Celery("profilegraph", broker=url, backend=url, include=["workers.tasks"])
    refresh = settings.refresh
    app.conf.update(
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
        },
    )
    return app


app = make_app()
