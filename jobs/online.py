"""Which online profile path an ingest runs: the last complete full run's models, or none.

Built once per consumer (a CLI command, a task, a bench) from the settings; the consumers apply
it in each ingest transaction (:mod:`graph.online`). None where the setting is off, where no
full run has completed yet (there is no profile to move) or where that run neither valued
customers by their orders nor kept a sequence model. A consumer keeps the models it started
with: a later full run's are picked up when the consumer next starts (each task does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.settings import Settings
from graph.client import GraphClient

if TYPE_CHECKING:
    from graph.online import OnlineUpdate


def online_update(settings: Settings, client: GraphClient) -> OnlineUpdate | None:
    if not settings.ingest.online_profiles:
        return None
    latest = client.read("latest_complete_run", kinds=["full"])
    if not latest:
        return None
    from jobs.refresh import run_files  # the engine (torch) only once there is a run

    path = run_files(settings, latest[0]["run_id"]).state
    if not path.exists():
        return None
    from engine.dimensions.online import OnlineModel
    from engine.dimensions.online_next import OnlineNext
    from engine.pipeline import ModelState
    from graph.online import OnlineUpdate
    from jobs.recipe import pipeline_config

    state = ModelState.load(path)
    config = pipeline_config(settings)
    model = OnlineModel(state.run_id, state.customer_fit, config.customer)
    every_action = settings.ingest.online_every_action
    sequences = (
        OnlineNext(state.next_model, config.next) if state.next_model and every_action else None
    )
    if not model.supported and sequences is None:
        return None
    return OnlineUpdate(
        model if model.supported else None,
        consent_default=settings.privacy.consent_default,
        unconsented_as_context=settings.privacy.unconsented_as_context,
        next=sequences,
        every_action=every_action,
    )
