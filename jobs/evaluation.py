"""Evaluate a completed run from its files: metrics beside their baselines, a report, and the
metrics recorded on the run's :ProfileRun (``evaluation``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.errors import PayloadError
from core.settings import Settings
from engine.evaluation.snapshot_evaluation import STAGES, evaluate_snapshot
from engine.pipeline import load_result
from engine.snapshot import Snapshot
from graph.client import GraphClient
from jobs.payloads import EvaluateRequest
from jobs.recipe import evaluation_config
from jobs.refresh import run_files
from jobs.runs import RunBoard


def evaluate_run(
    settings: Settings,
    request: EvaluateRequest,
    board: RunBoard | None = None,
    *,
    out: Path | None = None,
) -> dict[str, Any]:
    """``{"run_id", "files", "evaluation"}``; the report goes to the run's ``evaluation/``
    folder, or to ``out``: a caller's own choice (the CLI's ``--out``), never a message's.
    With a ``board`` the stages are reported on the run's progress (``evaluation``,
    ``evaluation_percent``) as they start."""
    from jobs.report import write_report  # matplotlib: only where reports are written

    files = run_files(settings, request.run_id)
    if not files.result.exists():
        raise PayloadError(
            f"run_id: run {request.run_id!r} has no result in {files.folder} "
            "(unknown, unfinished, or nothing changed in it)"
        )
    config = evaluation_config(
        settings,
        item_ranking_seeds=tuple(request.item_ranking_seeds),
        max_epochs=request.max_epochs,
    )
    snapshot, result = Snapshot.load(files.snapshot), load_result(files.result)
    everyone = result.user_ids == snapshot.node_ids["user"]  # a full run profiles everyone
    embedding = result.columns["embedding"] if everyone else None

    def on_stage(name: str, index: int) -> None:
        if board is not None:
            percent = round(100 * index / len(STAGES))
            board.update(
                request.run_id, evaluation=name, evaluation_percent=percent, evaluation_detail=""
            )

    def on_detail(text: str, fraction: float) -> None:
        if board is not None:  # within the last stage: its share of the bar, filled
            base = 100 * (len(STAGES) - 1) / len(STAGES)
            percent = round(base + fraction * (100 - base))
            board.update(request.run_id, evaluation_detail=text, evaluation_percent=percent)

    evaluation = evaluate_snapshot(
        snapshot, config, embedding=embedding, on_stage=on_stage, on_detail=on_detail
    )
    if board is not None:
        board.update(request.run_id, evaluation="done", evaluation_percent=100)
    written = write_report(evaluation, result, out or files.evaluation)
    with GraphClient(settings.neo4j) as client:
        client.write(
            "record_run_evaluation",
            run_id=request.run_id,
            evaluation=json.dumps(evaluation, sort_keys=True),
        )
    return {"run_id": request.run_id, "files": [str(f) for f in written], "evaluation": evaluation}
