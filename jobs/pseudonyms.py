"""Pseudonymous snapshots: who a snapshot's users and items are stays on the cpu side.

The export step replaces every user and item id in the snapshot with a pseudonym (``#u17``,
``#i4``) before the file is written; the mapping is saved beside it as ``pseudonyms.json``
(private to the user), and only the export and write-back steps (the ``cpu`` queue) read it.
The snapshot, the model state and the result file (what a GPU worker, possibly on another
machine, reads and writes) hold indices and pseudonyms only; explanations and
recommendations name items and friends by pseudonym until the writer resolves them.

Pseudonyms carry over along a run's lineage: a full run keeps the previous full run's
pseudonym for everyone still there and numbers newcomers after the highest one, and an
incremental run extends its base run's mapping, so a model state aligns its embeddings and
the exploration it showed with the next snapshot without ever seeing an id. A first full run's
pseudonyms are exactly the snapshot's indices. Erasure (:func:`forget_everywhere`) removes a
person from every mapping still kept, after which the rows left in old run files name no one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # erasure imports this module: it must not pull in torch
    from engine.snapshot import Snapshot

FILE = "pseudonyms.json"
# "#" never starts an ingested id (graph.events.Identifier), so a pseudonym is never an id
PREFIX = {"user": "#u", "item": "#i"}


@dataclass
class Pseudonyms:
    """Pseudonym -> external id, per node type, and the next number of each."""

    ids: dict[str, dict[str, str]] = field(default_factory=lambda: {"user": {}, "item": {}})
    next: dict[str, int] = field(default_factory=lambda: {"user": 0, "item": 0})

    def assign(self, node_type: str, external: list[str]) -> tuple[Pseudonyms, list[str]]:
        """The pseudonyms of ``external`` ids, reusing this mapping's (returned: a mapping of
        exactly those ids, with the counter moved past every number used)."""
        known = {ext: p for p, ext in self.ids[node_type].items()}
        counter = self.next[node_type]
        out: list[str] = []
        for ext in external:
            pseudonym = known.get(ext)
            if pseudonym is None:
                pseudonym = f"{PREFIX[node_type]}{counter}"
                counter += 1
            out.append(pseudonym)
        mapping = Pseudonyms(
            {**self.ids, node_type: dict(zip(out, external, strict=True))},
            {**self.next, node_type: counter},
        )
        return mapping, out

    def resolve(self, node_type: str, pseudonym: str) -> str | None:
        """The external id behind a pseudonym (None: erased, or never this run's)."""
        return self.ids[node_type].get(pseudonym)

    def forget(self, node_type: str, external: set[str]) -> int:
        """Drop these external ids; returns how many pseudonyms were dropped."""
        before = len(self.ids[node_type])
        self.ids[node_type] = {p: e for p, e in self.ids[node_type].items() if e not in external}
        return before - len(self.ids[node_type])

    def to_dict(self) -> dict[str, Any]:
        return {"ids": self.ids, "next": self.next}

    def save(self, folder: Path) -> Path:
        """Written whole and atomically, readable by this user only (it names people)."""
        path = folder / FILE
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(self.to_dict(), out)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, folder: Path) -> Pseudonyms | None:
        path = folder / FILE
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            {k: dict(v) for k, v in data["ids"].items()},
            {k: int(v) for k, v in data["next"].items()},
        )


def pseudonymise(snapshot: Snapshot, previous: Pseudonyms | None) -> Pseudonyms:
    """Replace the snapshot's user and item ids with pseudonyms (in place); returns the
    mapping, which never goes into the snapshot."""
    mapping = previous or Pseudonyms()
    for node_type in ("user", "item"):
        mapping, names = mapping.assign(node_type, list(snapshot.node_ids.get(node_type, [])))
        snapshot.node_ids[node_type] = names
    # order ids can embed customer ids; nothing resolves them, so they become plain indices
    snapshot.node_ids["order"] = [f"#o{i}" for i in range(snapshot.num_nodes("order"))]
    if "user_ids" in snapshot.selection:  # a neighbourhood export names its seed users
        seeds = snapshot.selection["user_ids"]
        snapshot.selection = {**snapshot.selection, "user_ids": f"{len(seeds)} (withheld)"}
    return mapping


def forget_everywhere(runs: Path, user_ids: Iterable[str]) -> int:
    """Remove these users from every run's mapping under ``runs``; returns how many files
    changed. A run's snapshot, state and result then hold rows no one can link to them."""
    erased = set(user_ids)
    changed = 0
    if not erased or not runs.is_dir():
        return 0
    for folder in sorted(p for p in runs.iterdir() if p.is_dir()):
        mapping = Pseudonyms.load(folder)
        if mapping is not None and mapping.forget("user", erased):
            mapping.save(folder)
            changed += 1
    return changed
