"""A refresh result's profiles as the writer's digests, one per user and part, without a row.

The writer compares each user's part digests with what Neo4j holds (``graph.writeback``) and
makes a row only where something changed. Making every user's row to digest it would cost as
much as the write it saves (about 100 µs a user in Python), so here the digests come straight
from the result's columns, a column at a time and never a user at a time: each column becomes a
64-bit code per user (floats equal to ``SAME_DIGITS`` significant digits share a code, each
distinct text is hashed once, a list is coded by its values and their positions, None apart
from every value), the lists and the interests' evidence are hashed as tensors, and each part's
columns are folded per user (FNV-1a over the codes, as arrays).

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
from graph.writeback import DIGESTS, SAME_DIGITS

_FIELD = {f.name: k for k, f in enumerate(FIELDS)}
_NONE = np.uint64(0x9E3779B97F4A7C15)  # the code of a missing value
_FNV_OFFSET, _FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)


def _name_codes(names: Sequence[str]) -> np.ndarray:
    """The code of each name in a name table; index -1 (no name) reads the 0 at the end."""
    return np.append(_text_codes(names), np.uint64(0))


def _float_codes(x: Tensor | np.ndarray) -> np.ndarray:
    """Floats as integers equal where they agree to ``SAME_DIGITS`` significant digits."""
    v = x.double().numpy() if isinstance(x, Tensor) else np.asarray(x, dtype=np.float64)
    out = np.zeros(v.shape, dtype=np.int64)
    nonzero = np.isfinite(v) & (v != 0)
    exponent = np.floor(np.log10(np.abs(v[nonzero])))
    mantissa = np.round(v[nonzero] / 10 ** (exponent - (SAME_DIGITS - 1)))
    out[nonzero] = mantissa.astype(np.int64) * 4096 + exponent.astype(np.int64)
    out[np.isnan(v)] = 1
    out[np.isposinf(v)], out[np.isneginf(v)] = 2, 3
    return out


def column_codes(values: Any, kind: str) -> np.ndarray:
    """One column (a value per user) as a 64-bit code per user, equal where the values are
    the same to the digest (floats to ``SAME_DIGITS`` significant digits; a list by its
    values in order; None apart from every value), by the contract's kind of value."""
    if isinstance(values, Tensor):
        if values.is_floating_point():
            return _float_codes(values).astype(np.uint64)
        return values.long().numpy().astype(np.uint64)
    if kind.startswith("list["):
        return _list_codes(values, kind[5:-1])
    values = list(values)
    nones = values.count(None)
    if nones == len(values):  # a figure the data cannot support: a column of None
        return np.full(len(values), _NONE, dtype=np.uint64)
    if kind == "float":
        numbers = [np.nan if v is None else v for v in values] if nones else values
        out = _float_codes(np.asarray(numbers, dtype=np.float64)).astype(np.uint64)
    elif kind == "str":
        out = _text_codes(values)
    else:  # int, time, bool
        numbers = [0 if v is None else v for v in values] if nones else values
        out = np.asarray(numbers, dtype=np.int64).astype(np.uint64)
    if nones:
        out[np.asarray([v is None for v in values])] = _NONE
    return out


def _text_codes(values: Sequence[str | None]) -> np.ndarray:
    """A stable 64-bit code per text, each distinct text hashed once (blake2b: Python's own
    string hash changes per process)."""
    distinct = dict.fromkeys(values, 0)
    for text in distinct:
        if text is not None:
            distinct[text] = int.from_bytes(
                hashlib.blake2b(text.encode(), digest_size=8).digest(), "little"
            )
    return np.array([distinct[v] for v in values], dtype=np.uint64)


def _list_codes(lists: Sequence[Sequence[Any] | None], kind: str) -> np.ndarray:
    """Per user: a code of their list (each value's code with its position), or of None."""
    lengths = np.array([-1 if v is None else len(v) for v in lists], dtype=np.int64)
    n = np.maximum(lengths, 0)
    flat = [x for v in lists if v is not None for x in v]
    summed = np.zeros(len(lists), dtype=np.uint64)
    if flat:
        position = np.arange(len(flat)) - np.repeat(np.cumsum(n) - n, n)
        entry = _row_hash([position, column_codes(flat, kind)])
        np.add.at(summed, np.repeat(np.arange(len(lists)), n), entry)
    return _row_hash([lengths, summed])


def _row_hash(columns: Sequence[np.ndarray]) -> np.ndarray:
    """FNV-1a over each row of the [U] or [U, K] integer columns, in order."""
    h = np.full(len(columns[0]), _FNV_OFFSET, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in columns:
            block = column.reshape(len(column), -1).astype(np.uint64)
            for k in range(block.shape[1]):
                h ^= block[:, k]
                h *= _FNV_PRIME
    return h


def _lists(
    lists: RecommendationLists, codes: dict[str, np.ndarray], lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray]:
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
) -> np.ndarray:
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
    np.add.at(out, row, entry)
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
        interests = column_codes(c["interests"][lo:hi], "list[str]")
        weights = column_codes(c["interest_weights"][lo:hi], "list[float]")
        fields = [column_codes(c[f.name][lo:hi], f.kind) for f in FIELDS]
        adoptions = column_codes(c["interest_adoptions"][lo:hi], "list[int]")
        evidence = _evidence(c["explanation"], self.codes, lo, hi)
        parts = {
            "props": [*fields, interests, weights, items],
            "interests": [interests, weights, evidence, adoptions],
            "recommendations": [whole],
            **{
                e.field: [fields[_FIELD[e.field]], fields[_FIELD[e.value_field]]]
                for e in FIELD_EDGES
            },
            "embedding": [_float_codes(c["embedding"][lo:hi])],
        }
        per_part = [[f"{h:016x}" for h in _row_hash(parts[part]).tolist()] for part in DIGESTS]
        return list(zip(*per_part, strict=True))
