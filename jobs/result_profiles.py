"""A refresh result's profiles as the writer's candidate blocks, sliced from its columns.

The result file holds every user's profile as columns (``engine.pipeline.SavedResult``). The
writer compares each user's part digests (``jobs.write_digests``, from the columns) with what
Neo4j holds and asks the block for the profiles of the users that changed; those are sliced
from the columns into :class:`graph.writeback.ProfileColumns`, each pseudonym resolved to its
id, and go to the procedure as they are (rows are made only for the Cypher writer). A million
profiles as Python objects would not fit beside the rest: a block is made as the writer takes
it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from core.profile_contract import FIELDS
from engine.pipeline import SavedResult, load_result
from graph.writeback import (
    INTEREST_COLUMNS,
    RECOMMENDATION_COLUMNS,
    CandidateBlock,
    EdgeTable,
    ProfileColumns,
)
from jobs.pseudonyms import Pseudonyms
from jobs.write_digests import ResultDigests

DIGEST_BLOCK = 20_000  # users digested at once


def result_profiles(
    result_path: Path, pseudonyms: Pseudonyms, *, batch_size: int = 2_000
) -> tuple[Iterator[CandidateBlock], int, dict[str, Any], dict[str, float]]:
    """The result file as the writer's candidate blocks of ``batch_size`` users, made as the
    writer takes them: each user's part digests and embedding, which the writer compares with
    what Neo4j holds, and the profiles (every declared field, the embedding, the interests with
    their evidence, each pseudonym resolved to its id) made only for the users whose profile
    changed. A user erased since the export is left out, and so is an item or friend named in
    an explanation or a list. Also: how many users the file holds, its metrics and timings."""
    saved = load_result(result_path)
    blocks = _blocks(saved, pseudonyms, batch_size)
    return blocks, len(saved.user_ids), saved.metrics, saved.timings


def _blocks(saved: SavedResult, pseudonyms: Pseudonyms, size: int) -> Iterator[CandidateBlock]:
    digests = ResultDigests(saved)
    embedding = saved.columns["embedding"]
    for lo in range(0, len(saved.user_ids), DIGEST_BLOCK):
        hi = min(lo + DIGEST_BLOCK, len(saved.user_ids))
        digested = digests.block(lo, hi)
        vectors = embedding[lo:hi].double().numpy()
        present = [
            (i, user_id)
            for i in range(lo, hi)
            if (user_id := pseudonyms.resolve("user", saved.user_ids[i])) is not None
        ]
        for start in range(0, len(present), size):
            chunk = present[start : start + size]
            rows = [i for i, _ in chunk]
            users = [user_id for _, user_id in chunk]
            mine = vectors[[i - lo for i in rows]]
            yield CandidateBlock(
                users,
                [digested[i - lo] for i in rows],
                mine,
                partial(_columns, saved, pseudonyms, rows, users, mine),
            )


def _values(column: Any, rows: list[int]) -> list[Any]:
    if isinstance(column, Tensor):
        return column[rows].tolist()
    return [column[i] for i in rows]


def _columns(
    saved: SavedResult,
    pseudonyms: Pseudonyms,
    rows: list[int],
    users: list[str],
    embeddings: np.ndarray,
    some: list[int],
) -> ProfileColumns:
    """Result rows ``rows[k]`` for ``k`` in ``some`` (ascending) as the profiles the writer
    writes (``embeddings``: the block's, already read)."""
    c = saved.columns
    picked = [rows[k] for k in some]
    return ProfileColumns(
        [users[k] for k in some],
        {f.name: [f.to_value(v) for v in _values(c[f.name], picked)] for f in FIELDS},
        embeddings[some],
        _interests(saved, pseudonyms, picked),
        _recommendations(saved, pseudonyms, picked),
    )


def _ids(pseudonyms: Pseudonyms, node_type: str, names: Sequence[str]) -> list[str]:
    found = (pseudonyms.resolve(node_type, name) for name in names)
    return [ext for ext in found if ext is not None]


def _interests(saved: SavedResult, pseudonyms: Pseudonyms, rows: list[int]) -> EdgeTable:
    c = saved.columns
    why = c["explanation"].block(rows[0], rows[-1] + 1)  # rows ascending: one span
    return EdgeTable.of(
        INTEREST_COLUMNS,
        (
            [
                {
                    "name": name,
                    "rank": rank,
                    "weight": float(weight),
                    "items": _ids(pseudonyms, "item", named["items"]),
                    "friends": _ids(pseudonyms, "user", named["friends"]),
                    "adoptions": int(adopted),
                }
                for rank, (name, weight, named, adopted) in enumerate(
                    zip(
                        c["interests"][i],
                        c["interest_weights"][i],
                        why[i - rows[0]],
                        c["interest_adoptions"][i],
                        strict=True,
                    ),
                    start=1,
                )
            ]
            for i in rows
        ),
    )


def _recommendations(saved: SavedResult, pseudonyms: Pseudonyms, rows: list[int]) -> EdgeTable:
    lists = saved.columns["recommendations"]
    return EdgeTable.of(
        RECOMMENDATION_COLUMNS,
        (
            [
                {**slot, "item_id": item}
                for slot in lists[i]
                if (item := pseudonyms.resolve("item", slot["item_id"])) is not None
            ]
            for i in rows
        ),
    )
