"""What the worker tests share: a task sender and the run board of the session's Redis."""

from __future__ import annotations

import pytest
from celery import Celery

from core.settings import Settings
from jobs.runs import RunBoard
from workers.app import make_app


@pytest.fixture(scope="module")
def sender(settings: Settings) -> Celery:
    return make_app(settings)


@pytest.fixture(scope="module")
def board(settings: Settings) -> RunBoard:
    return RunBoard.connect(settings)
