"""A refresh result's profiles as the writer's digests, one per user and part, without a row.

The writer compares each user's part digests with what Neo4j holds (``graph.writeback``) and
makes a row only where something changed. Making every user's row to digest it would cost as
much as the write it saves (about 100 µs a user in Python), so here the digests come straight
from the result's columns: each column is rounded (floats at ``SAME_DIGITS`` significant
digits) a column at a time, the lists and the interests' evidence are hashed as tensors, and
each user's values are hashed once per part.

These digests see the result as its file holds it (items and friends by pseudonym, which carry
over from run to run along a lineage: ``jobs.pseudonyms``), so they agree from run to run, not
with :func:`graph.writeback.statement_row`'s digests of a written row: a user written by the
other path compares as changed and is written again, never the reverse.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from core.profile_contract import FIELD_EDGES, FIELDS
from engine.dimensions.interest_evidence import KINDS, InterestEvidence, Named
from engine.dimensions.recommendation_lists import RecommendationLists
from engine.pipeline import SavedResult
from graph.writeback import PARTS, SAME_DIGITS, SAME_FORMAT

_FIELD = {f.name: k for k, f in enumerate(FIELDS)}
_FNV_OFFSET, _FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)


def _column(values: Any, kind: str) -> list[Any]:
    """One column (a value per user) as the digest reads it, by the contract's kind of value."""
    if isinstance(values, Tensor):
        if values.is_floating_point():
            return [format(v, SAME_FORMAT) for v in values.tolist()]
        return values.tolist()
    if kind == "float":
        return [format(v, SAME_FORMAT) if type(v) is float else v for v in values]
    if kind == "list[float]":
        return [None if v is None else tuple(format(x, SAME_FORMAT) for x in v) for v in values]
    if kind == "list[str]":
        return [None if v is None else tuple(v) for v in values]
    return list(values)


def _name_codes(names: Sequence[str]) -> np.ndarray:
    """A stable 64-bit code per name (blake2b: Python's own string hash changes per process)."""
    codes = [
        int.from_bytes(hashlib.blake2b(n.encode(), digest_size=8).digest(), "little") for n in names
    ]
    return np.array([*codes, 0], dtype=np.uint64)  # index -1 (no name) reads the 0 at the end


def _float_codes(x: Tensor) -> np.ndarray:
    """Floats as integers equal where they agree to ``SAME_DIGITS`` significant digits."""
    v = x.double().numpy()
    out = np.zeros(v.shape, dtype=np.int64)
    nonzero = np.isfinite(v) & (v != 0)
    exponent = np.floor(np.log10(np.abs(v[nonzero])))
    mantissa = np.round(v[nonzero] / 10 ** (exponent - (SAME_DIGITS - 1)))
    out[nonzero] = mantissa.astype(np.int64) * 4096 + exponent.astype(np.int64)
    out[np.isnan(v)] = 1
    out[np.isposinf(v)], out[np.isneginf(v)] = 2, 3
    return out


def _row_hash(columns: list[np.ndarray]) -> list[int]:
    """FNV-1a over each row of the [U] or [U, K] integer columns, in order."""
    h = np.full(len(columns[0]), _FNV_OFFSET, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in columns:
            block = column.reshape(len(column), -1).astype(np.uint64)
            for k in range(block.shape[1]):
                h ^= block[:, k]
                h *= _FNV_PRIME
    return h.tolist()


def _lists(
    lists: RecommendationLists, codes: dict[str, np.ndarray], lo: int, hi: int
) -> tuple[list[int], list[int]]:
    """Per user of rows lo..hi: a hash of the whole list (every slot's fields) and of its
    items alone."""
    slots = lists.slots
    items = codes["item"][slots.item[lo:hi].numpy()]
    categories = codes["category"][slots.category[lo:hi].numpy()]
    whole = [
        items,
        _float_codes(slots.score[lo:hi]),
        slots.kind[lo:hi].numpy(),
        slots.friends[lo:hi].numpy(),
        slots.own[lo:hi].numpy(),
        categories,
        _float_codes(lists.share[lo:hi]),
    ]
    return _row_hash(whole), _row_hash([items])


def _evidence(
    evidence: InterestEvidence, codes: dict[str, np.ndarray], lo: int, hi: int
) -> list[int]:
    """Per user of rows lo..hi: a hash of the items and friends named behind each interest,
    in order."""
    h = np.zeros(hi - lo, dtype=np.uint64)
    for kind, named in enumerate((evidence.items, evidence.friends)):
        h ^= _named(named, codes[KINDS[kind]], lo, hi, kind + 1)
    return _row_hash([h, evidence.kept[lo:hi].numpy()])


def _named(named: Named, names: np.ndarray, lo: int, hi: int, salt: int) -> np.ndarray:
    """Per user of rows lo..hi: the sum over their entries of a mix of (slot, name, position
    within the user)."""
    out = np.zeros(hi - lo, dtype=np.uint64)
    a, b = torch.searchsorted(named.row, torch.tensor([lo, hi])).tolist()
    row = named.row[a:b].numpy() - lo
    if row.size == 0:
        return out
    position = np.arange(row.size) - np.searchsorted(row, row, side="left")
    code = names[named.thing[a:b].numpy()]
    entry = _row_hash([np.full(row.size, salt), named.slot[a:b].numpy(), position, code])
    np.add.at(out, row, np.array(entry, dtype=np.uint64))
    return out


class ResultDigests:
    """The digests of a result's users, a block of rows at a time (a million users' columns as
    Python values at once would not fit beside the rest)."""

    def __init__(self, saved: SavedResult) -> None:
        self.saved = saved
        lists, evidence = saved.columns["recommendations"], saved.columns["explanation"]
        self.codes = {  # each name hashed once, not once per block
            "item": _name_codes(lists.item_ids),
            "category": _name_codes(lists.category_names),
            **{
                k: _name_codes(n.names)
                for k, n in zip(KINDS, (evidence.items, evidence.friends), strict=True)
            },
        }

    def block(self, lo: int, hi: int) -> list[tuple[str, ...]]:
        """Users lo..hi (the result's row order): one digest per part of ``PARTS`` each, then
        the embedding's (``DIGESTS``)."""
        c = self.saved.columns
        whole, items = _lists(c["recommendations"], self.codes, lo, hi)
        interests = _column(c["interests"][lo:hi], "list[str]")
        weights = _column(c["interest_weights"][lo:hi], "list[float]")
        fields = [_column(c[f.name][lo:hi], f.kind) for f in FIELDS]
        adoptions = _column(c["interest_adoptions"][lo:hi], "list[int]")
        evidence = _evidence(c["explanation"], self.codes, lo, hi)
        parts = {
            "props": [*fields, interests, weights, items],
            "interests": [interests, weights, evidence, adoptions],
            "recommendations": [whole],
            **{
                e.field: [fields[_FIELD[e.field]], fields[_FIELD[e.value_field]]]
                for e in FIELD_EDGES
            },
        }
        per_part = [
            [
                hashlib.blake2b(repr(values).encode(), digest_size=8).hexdigest()
                for values in zip(*parts[part], strict=True)
            ]
            for part in PARTS
        ]
        embedding = _row_hash([_float_codes(c["embedding"][lo:hi])])
        per_part.append([f"{h:016x}" for h in embedding])
        return list(zip(*per_part, strict=True))
