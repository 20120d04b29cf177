"""The online path's next behaviour: a customer's next categories, next action, purchase
probability and hours to the next action, recomputed the moment they act.

The sequence model (:mod:`engine.models.next_behaviour`) reads a customer's latest ``length``
actions and their followees' category mix; nothing about it is trained online. A refresh of the
customer's neighbourhood computes the fields from what its export holds: each person's latest
logged actions (``graph.export.ACTIONS_PER_USER``), mapped into the full run's item, kind and
category spaces (an item or kind the run never saw is left out; a category it never saw reads
as none), with an action's category its tag (a ``TAGGED`` action) or its item's primary
category. :class:`OnlineNext` takes the same actions, read for the customer and each followee
(``cypher/online_sequences.cypher``), and computes the fields through the function a refresh
uses (:func:`engine.dimensions.next_steps.next_predictions`), so they equal what an incremental
refresh of the same graph writes with the same run's model.

Each customer of a batch is computed with their own copy of their followees, so who else is in
the batch changes nothing. The recurrent state is recomputed over the latest ``length`` actions
(a one-step update of a stored state would differ from the refresh as soon as the oldest action
leaves the window); that is a GRU over at most ``length`` steps per customer, bounded whatever
the history's length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from core.profile_contract import FIELDS_BY_NAME
from engine.dimensions.next_steps import NEXT_FIELDS, NextConfig, NextModel, next_predictions
from engine.snapshot import ActionLog


@dataclass(frozen=True)
class PersonActions:
    """One person's latest logged actions in the order read (newest first; equal times keep
    the read order, as an export's log does): item ids, relationship types, times, and each
    action's category name (its tag, else its item's primary category; None: none)."""

    items: list[str]
    kinds: list[str]
    ts: list[int]
    categories: list[str | None]

    def __post_init__(self) -> None:
        sizes = {len(self.items), len(self.kinds), len(self.ts), len(self.categories)}
        if len(sizes) > 1:
            raise ValueError(f"actions of unequal lengths: {sorted(sizes)}")


@dataclass(frozen=True)
class NextHistory:
    own: PersonActions
    followees: list[PersonActions] = field(default_factory=list)


class OnlineNext:
    """A full run's sequence model, ready to score customers as they act."""

    def __init__(self, model: NextModel, config: NextConfig) -> None:
        self.model = model
        self.config = config
        self.trained = model.trained()
        self._item = {name: i for i, name in enumerate(model.item_ids)}
        self._kind = {name: k for k, name in enumerate(model.kinds)}
        self._category = {name: c for c, name in enumerate(model.categories)}

    def fields(self, histories: Sequence[NextHistory]) -> list[dict[str, Any]]:
        """Each customer's next-behaviour fields (:data:`NEXT_FIELDS`), as the contract
        stores them."""
        if not histories:
            return []
        columns: dict[str, list[int]] = {"user": [], "item": [], "kind": [], "ts": [], "cat": []}
        src: list[int] = []
        dst: list[int] = []
        rows: list[int] = []
        n = 0
        for history in histories:
            rows.append(n)
            self._add(columns, n, history.own)
            me, n = n, n + 1
            for followee in history.followees:
                src.append(me)
                dst.append(n)
                self._add(columns, n, followee)
                n += 1
        tensors = {k: torch.tensor(v, dtype=torch.long) for k, v in columns.items()}
        log = ActionLog.build(
            tensors["user"],
            tensors["item"],
            tensors["kind"],
            tensors["ts"],
            tensors["cat"],
            self.model.kinds,
        )
        follows = (torch.tensor(src, dtype=torch.long), torch.tensor(dst, dtype=torch.long))
        out, _, _ = next_predictions(
            self.model,
            self.config,
            self.trained,
            log,
            log.category,
            follows,
            n,
            torch.tensor(rows, dtype=torch.long),
        )
        return [
            {name: FIELDS_BY_NAME[name].to_value(out[name][row]) for name in NEXT_FIELDS}
            for row in rows
        ]

    @property
    def length(self) -> int:
        """The latest actions the model reads of each person."""
        return self.trained.config.length

    def window_complete(self, items: list[str], kinds: list[str], ts: list[int], read: int) -> bool:
        """Whether the newest ``read`` actions of a person (as read, newest first; fewer: all
        they have) decide their window: the latest ``length`` the run knows are among them and
        every action left unread is older than the window's oldest."""
        if len(items) < read:
            return True
        known = [t for i, k, t in zip(items, kinds, ts, strict=True) if self._knows(i, k)]
        return len(known) >= self.length and known[self.length - 1] > ts[-1]

    def window_items(self, items: list[str], kinds: list[str], tags: list[str]) -> list[str]:
        """Of one person's actions as read (newest first), the untagged items among the latest
        ``length`` the run knows: the items whose primary category the fields read."""
        out: list[str] = []
        kept = 0
        for item, kind, tag in zip(items, kinds, tags, strict=True):
            if not self._knows(item, kind):
                continue
            if not tag:
                out.append(item)
            kept += 1
            if kept == self.length:
                break
        return out

    def _knows(self, item: str, kind: str) -> bool:
        """Whether the run's spaces hold the action (a refresh's ``_log_in`` drops the rest)."""
        return item in self._item and kind in self._kind

    def _add(self, columns: dict[str, list[int]], row: int, actions: PersonActions) -> None:
        """The person's actions the run's spaces know (as a refresh's ``_log_in`` keeps them),
        in the order read."""
        for item, kind, ts, category in zip(
            actions.items, actions.kinds, actions.ts, actions.categories, strict=True
        ):
            if not self._knows(item, kind):
                continue
            columns["user"].append(row)
            columns["item"].append(self._item[item])
            columns["kind"].append(self._kind[kind])
            columns["ts"].append(ts)
            columns["cat"].append(self._category.get(category, -1) if category else -1)
