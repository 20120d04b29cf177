"""The online profile path in the ingest transaction: an order moves the customer's profile at
once, committed with the event itself.

:class:`OnlineUpdate` runs inside :func:`graph.ingest.apply_batch`'s transaction, after the
batch's events are written: for the users whose purchases it holds, it reads their orders and
latest action (``online_customer_history.cypher``), recomputes the value fields with the last
full run's models (:func:`engine.dimensions.online.online_value`) and writes them with a bought
item out of the recommendations (``write_online_profile.cypher``). Being part of the ingest's
transaction is what makes it exact under faults: a crash before the commit leaves neither the
event nor its update, a crash after leaves both, and a replayed batch (the ingest's ledger and
source positions skip it) updates nothing again. Erased users have no node to update; users
without consent and users no refresh has profiled yet are left alone.

The churn probability moves with them where the run's churn model reads the customer's own
behaviour alone (:attr:`engine.dimensions.online.OnlineModel.churn_moves`). What does not move
online (churn from a model that reads the graph, interests, influence, embedding, segment, next
behaviour) keeps the refresh's values; ``profile_online_at`` and ``profile_online_fields`` say
which fields the online path last set and when, beside the refresh's ``profile_updated_at``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.profile_contract import FIELDS_BY_NAME
from core.vocabulary import InteractionKind
from engine.dimensions.online import CustomerHistory, OnlineModel, online_values
from graph.client import Transaction
from graph.events import Event, InteractionEvent
from graph.export import ACTIONS_PER_USER

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OnlineUpdate:
    model: OnlineModel
    consent_default: bool = True
    unconsented_as_context: bool = False  # as the refresh's export (followees it keeps)

    def apply(self, tx: Transaction, events: Sequence[Event], epoch: int) -> int:
        """Update the profiles the batch's purchases touch; returns how many were written.
        ``epoch``: the batch's change epoch, stored with the update, so that a refresh whose
        snapshot predates it does not overwrite the online fields (``write_profiles``)."""
        bought: dict[str, list[str]] = {}
        for e in events:
            if isinstance(e, InteractionEvent) and e.kind is InteractionKind.PURCHASE:
                bought.setdefault(e.user_id, []).append(e.item_id)
        if not bought:
            return 0
        found = tx.run(
            "online_customer_history",
            users=sorted(bought),
            consent_default=self.consent_default,
            context=self.unconsented_as_context,
            per_user=ACTIONS_PER_USER,
        )
        rows = self._rows(found, bought)
        if not rows:
            return 0
        written = tx.run(
            "write_online_profile",
            rows=rows,
            now=int(time.time() * 1000),
            epoch=epoch,
            consent_default=self.consent_default,
        )
        return int(written[0]["written"]) if written else 0

    def _rows(
        self, found: list[dict[str, Any]], bought: dict[str, list[str]]
    ) -> list[dict[str, Any]]:
        """One write row per found user: the recomputed fields (all valued in one call) and the
        items bought."""
        valued = [r for r in found if self.model.supported and r["order_ts"]]
        histories = [
            CustomerHistory(
                list(r["order_ts"]),
                list(r["order_amounts"]),
                r["last_action_ms"],
                r["churn_probability"],
                action_ts=[t for t in (*r["edge_ts"], *r["log_ts"]) if t is not None and t >= 0],
                followee_last_ms=[t if t >= 0 else None for t in r["followee_last_ms"]],
            )
            for r in valued
        ]
        fields: dict[str, dict[str, Any]] = {}
        try:
            figures = online_values(self.model, histories) if histories else []
        except (ValueError, RuntimeError) as error:  # the refresh's figures stay
            log.warning("online values of %d users not updated: %s", len(histories), error)
        else:
            fields = {r["user_id"]: f for r, f in zip(valued, figures, strict=True)}
        rows = []
        for r in found:
            props = {
                FIELDS_BY_NAME[name].property: value
                for name, value in fields.get(r["user_id"], {}).items()
            }
            names = sorted(p.removeprefix("profile_") for p in props)
            rows.append(
                {
                    "user_id": r["user_id"],
                    "props": props,
                    "fields": names,
                    "bought": bought[r["user_id"]],
                }
            )
        return rows
