"""The online profile path in the ingest transaction: an event moves the customer's profile at
once, committed with the event itself.

:class:`OnlineUpdate` runs inside :func:`graph.ingest.apply_batch`'s transaction, after the
batch's events are written:

- for the users whose orders it holds, it reads their orders and latest action
  (``online_customer_history.cypher``), recomputes the value fields with the last full run's
  models (:func:`engine.dimensions.online.online_values`) and takes a bought item out of the
  recommendations; with ``every_action`` (``PROFILEGRAPH_INGEST__ONLINE_EVERY_ACTION``) it
  does so for the users with any action in it (an action moves "now": recency, P(active)),
  reading their action times and their followees' latest actions too, and the churn
  probability moves, where the run's churn model reads the customer's own behaviour alone;
- with ``next`` (the same setting, where the run kept a sequence model), for the users with
  any action in it, it reads their and their followees' latest actions
  (``online_sequences.cypher``, the items' primary categories from
  ``item_primary_categories.cypher``) and recomputes the next behaviour
  (:class:`engine.dimensions.online_next.OnlineNext`), NEXT_CATEGORY edges included;

and writes both in one statement (``write_online_profile.cypher``). Being part of the ingest's
transaction is what makes it exact under faults: a crash before the commit leaves neither the
event nor its update, a crash after leaves both, and a replayed batch (the ingest's ledger and
source positions skip it) updates nothing again. Erased users have no node to update; users
without consent and users no refresh has profiled yet are left alone.

What does not move online (churn from a model that reads the graph, interests, influence,
embedding, segment, the lists' re-scoring) keeps the refresh's values; ``profile_online_at``
and ``profile_online_fields`` say which fields the online path set since the refresh and when,
beside the refresh's ``profile_updated_at``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.profile_contract import FIELD_EDGES_BY_FIELD, FIELDS_BY_NAME
from core.vocabulary import InteractionKind
from engine.dimensions.adoptions import DAY_MS
from engine.dimensions.online import CustomerHistory, OnlineModel, online_values
from engine.dimensions.online_next import NextHistory, OnlineNext, PersonActions
from graph.client import Transaction
from graph.events import Event, InteractionEvent
from graph.export import ACTIONS_PER_USER
from graph.writeback import field_edge_entries

log = logging.getLogger(__name__)
# the edges the next categories imply: written with them (cypher/write_online_profile.cypher)
NEXT_EDGES = FIELD_EDGES_BY_FIELD["next_categories"]


@dataclass(frozen=True)
class OnlineUpdate:
    model: OnlineModel | None  # value and churn; None: the run's value does not move online
    consent_default: bool = True
    unconsented_as_context: bool = False  # as the refresh's export (followees it keeps)
    next: OnlineNext | None = None  # next behaviour on every action; None: not online
    every_action: bool = False  # value and churn move on every action, not only on orders

    def apply(self, tx: Transaction, events: Sequence[Event], epoch: int) -> int:
        """Update the profiles the batch's actions touch; returns how many were written.
        ``epoch``: the batch's change epoch, stored with the update, so that a refresh whose
        snapshot predates it does not overwrite the online fields (``write_profiles``)."""
        bought: dict[str, list[str]] = {}
        acted: set[str] = set()
        for e in events:
            if isinstance(e, InteractionEvent):
                acted.add(e.user_id)
                if e.kind is InteractionKind.PURCHASE:
                    bought.setdefault(e.user_id, []).append(e.item_id)
        rows: dict[str, dict[str, Any]] = {}
        # an order moves value and churn; with every_action any action does (it moves "now":
        # recency, P(active), churn); without the run's value models only the buyers' lists
        valued = acted if self.model is not None and self.every_action else set(bought)
        if valued:
            found = tx.run(
                "online_customer_history",
                users=sorted(valued),
                churn=self.every_action,
                **self._who(),
            )
            for row in self._rows(found, bought):
                rows[row["user_id"]] = row
        if acted and self.next is not None:
            for user, fields in self._next_fields(tx, sorted(acted)).items():
                row = rows.setdefault(user, _row(user, {}, []))
                row["props"].update({FIELDS_BY_NAME[n].property: v for n, v in fields.items()})
                row["fields"] = sorted({*row["fields"], *fields})
                row["next"] = field_edge_entries(NEXT_EDGES, fields)
        if not rows:
            return 0
        written = tx.run(
            "write_online_profile",
            rows=list(rows.values()),
            now=int(time.time() * 1000),
            epoch=epoch,
            consent_default=self.consent_default,
        )
        return int(written[0]["written"]) if written else 0

    def _who(self) -> dict[str, Any]:
        """Whom the reads may see: as the refresh's export."""
        return {
            "consent_default": self.consent_default,
            "context": self.unconsented_as_context,
            "per_user": ACTIONS_PER_USER,
        }

    def _next_fields(self, tx: Transaction, users: list[str]) -> dict[str, dict[str, Any]]:
        """The next-behaviour fields of the profiled ``users``, from their and their followees'
        latest actions."""
        assert self.next is not None
        # the newest few actions of each person decide their window unless the run did not
        # know many of them: those customers are read again as far as an export reads
        head = 2 * self.next.length
        found = tx.run("online_sequences", users=users, **{**self._who(), "per_user": head})
        again = [
            r["user_id"]
            for r in found
            if not all(
                self.next.window_complete(p["items"], p["kinds"], p["ts"], head)
                for p in r["people"]
            )
        ]
        if again:
            more = {r["user_id"]: r for r in tx.run("online_sequences", users=again, **self._who())}
            found = [more.get(r["user_id"], r) for r in found]
        if not found:
            return {}
        untagged = sorted(
            {
                item
                for r in found
                for person in r["people"]
                for item in self.next.window_items(person["items"], person["kinds"], person["tags"])
            }
        )
        primary = (
            {r["item_id"]: r["category"] for r in tx.run("item_primary_categories", items=untagged)}
            if untagged
            else {}
        )

        def actions(person: dict[str, Any]) -> PersonActions:
            categories = [
                tag or primary.get(item)
                for item, tag in zip(person["items"], person["tags"], strict=True)
            ]
            return PersonActions(person["items"], person["kinds"], person["ts"], categories)

        histories = [
            NextHistory(actions(r["people"][0]), [actions(p) for p in r["people"][1:]])
            for r in found
        ]
        fields = self.next.fields(histories)
        return {r["user_id"]: f for r, f in zip(found, fields, strict=True)}

    def _rows(
        self, found: list[dict[str, Any]], bought: dict[str, list[str]]
    ) -> list[dict[str, Any]]:
        """One write row per found user: the recomputed fields (all valued in one call) and the
        items bought."""
        model = self.model
        valued = [r for r in found if model is not None and model.supported]
        histories = [
            CustomerHistory(
                list(r["order_ts"]),
                list(r["order_amounts"]),
                r["last_action_ms"],
                r["churn_probability"],
                **(_churn_inputs(r) if self.every_action else {}),
            )
            for r in valued
        ]
        fields: dict[str, dict[str, Any]] = {}
        try:
            figures = online_values(model, histories) if model is not None and histories else []
        except (ValueError, RuntimeError) as error:  # the refresh's figures stay
            log.warning("online values of %d users not updated: %s", len(histories), error)
        else:
            fields = {r["user_id"]: f for r, f in zip(valued, figures, strict=True)}
        rows = []
        for r in found:
            mine = fields.get(r["user_id"], {})
            props = {FIELDS_BY_NAME[name].property: value for name, value in mine.items()}
            rows.append(_row(r["user_id"], props, bought.get(r["user_id"], [])))
        return rows


def _churn_inputs(found: dict[str, Any]) -> dict[str, Any]:
    """A customer's action times (a day's start for each logged day: the churn features read
    days) and their followees' latest action (None: never)."""
    return {
        "action_ts": [
            *(t for t in found["edge_ts"] if t is not None and t >= 0),
            *(day * DAY_MS for day in found["log_days"] if day >= 0),
        ],
        "followee_last_ms": [t if t >= 0 else None for t in found["followee_last_ms"]],
    }


def _row(user: str, props: dict[str, Any], bought: list[str]) -> dict[str, Any]:
    """A ``write_online_profile`` row: the properties set, the fields they are, the items
    bought, and the next categories (None: the edges stay)."""
    return {
        "user_id": user,
        "props": props,
        "fields": sorted(p.removeprefix("profile_") for p in props),
        "bought": bought,
        "next": None,
    }
