"""Retention: nothing that names people is kept forever (``settings.privacy``).

- **Run folders** (snapshot, result, state, pseudonym mapping, evaluation) older than
  ``run_retention_days`` are deleted, except the newest full run that has a model state: the
  next incremental refresh builds on it. CLI export mappings (``exports/``) age the same way.
- **Dead letters** (rejected input, whose raw text can name people) last seen more than
  ``dead_letter_retention_days`` ago are deleted from Neo4j.
- **Review texts** (a customer's words) written more than ``review_text_days`` ago are removed
  from their reviews (the rating stays).
- **The ingest ledger** (event-id digests and delivered-batch records) forgets entries older
  than ``ingest.dedup_window_days``: the de-duplication window is bounded.

Beat runs :func:`housekeeping` daily (``workers.app``); ``profilegraph housekeeping`` runs it
now.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from core.settings import Settings
from graph.client import GraphClient

DAY_S = 86_400


@dataclass
class RetentionReport:
    run_folders: int = 0
    export_folders: int = 0
    dead_letters: int = 0
    review_texts: int = 0
    ledger_entries: int = 0


def _newest_full_with_state(runs: Path) -> Path | None:
    kept = [p for p in runs.glob("full-*") if (p / "state.pt").exists()]
    return max(kept, key=lambda p: p.stat().st_mtime, default=None)


def expire_folders(root: Path, max_age_days: float, *, keep: Path | None = None) -> int:
    """Delete the folders under ``root`` last modified more than ``max_age_days`` ago."""
    if not root.is_dir():
        return 0
    cutoff = time.time() - max_age_days * DAY_S
    removed = 0
    for folder in root.iterdir():
        if folder.is_dir() and folder != keep and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder)
            removed += 1
    return removed


def expire_dead_letters(client: GraphClient, max_age_days: float, *, batch: int = 10_000) -> int:
    before = int((time.time() - max_age_days * DAY_S) * 1000)
    deleted = 0
    while (done := client.write_rows("expire_dead_letters", before=before, limit=batch)) > 0:
        deleted += done
        if done < batch:
            break
    return deleted


def expire_review_texts(client: GraphClient, max_age_days: float, *, batch: int = 10_000) -> int:
    before = int((time.time() - max_age_days * DAY_S) * 1000)
    expired = 0
    while (done := client.write_rows("expire_review_texts", before=before, limit=batch)) > 0:
        expired += done
    return expired


def expire_ingest_ledger(client: GraphClient, max_age_days: float, *, batch: int = 10_000) -> int:
    """The de-duplication window: ledger entries and delivered-batch records older go."""
    before = int((time.time() - max_age_days * DAY_S) * 1000)
    deleted = 0
    while (done := client.write_rows("expire_ingest_ledger", before=before, limit=batch)) > 0:
        deleted += done
    return deleted


def housekeeping(settings: Settings) -> RetentionReport:
    privacy, runs = settings.privacy, settings.state / "runs"
    report = RetentionReport(
        run_folders=expire_folders(
            runs, privacy.run_retention_days, keep=_newest_full_with_state(runs)
        ),
        export_folders=expire_folders(settings.state / "exports", privacy.run_retention_days),
    )
    with GraphClient(settings.neo4j) as client:
        report.dead_letters = expire_dead_letters(client, privacy.dead_letter_retention_days)
        report.review_texts = expire_review_texts(client, privacy.review_text_days)
        report.ledger_entries = expire_ingest_ledger(client, settings.ingest.dedup_window_days)
    return report
