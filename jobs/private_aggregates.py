"""Differentially private aggregates: what an analyst query may release with ``--dp-epsilon``.

A query whose header has a ``// dp:`` line can be run privately. The line says, per column:

- ``count C``: C counts users, each user in at most one row (sensitivity 1); released with
  discrete Laplace noise of scale 1/ε_C from OpenDP;
- ``mean C lo..hi``: C is a mean over the row's counted users of a per-user value in [lo, hi];
  released as (sum + Laplace noise of scale max(|lo|, |hi|)/ε_C) / noisy count, clipped to
  [lo, hi];
- ``keep C, D``: group keys (segment ids, labels, category names), released as they are;
- ``single``: every row repeats the same figure (an audience's size): one row is released.

Every other column (user ids, exact sums of unbounded values) is withheld (null). The query's
ε is split evenly over its noisy columns (sequential composition); rows are disjoint groups of
users, so each column's ε covers all its rows (parallel composition). A row whose noisy count
is below ``privacy.dp_min_group`` is suppressed. Each run is charged to a per-data-set budget
ledger (``<state>/privacy/``, outside the clone): a query that would take the data set past
``privacy.dp_total_epsilon`` is refused before it runs.

What it does not protect: analysts with database access see exact data (Neo4j Community has no
per-user roles); which groups exist is released as it is (group keys); and thresholding noisy
counts adds a small δ to the ε guarantee.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from core.errors import ProfilegraphError, QueryParameterError
from core.settings import Settings
from graph.analyst import parse_params, run_analyst_query
from graph.client import GraphClient
from graph.queries import Query, load_query

_MEAN = re.compile(r"^mean\s+(\w+)\s+(-?[0-9.]+)\.\.(-?[0-9.]+)$")


class BudgetExhausted(ProfilegraphError):
    """A DP query would spend more than the data set's privacy budget."""


@dataclass(frozen=True)
class DpSpec:
    counts: tuple[str, ...]
    means: dict[str, tuple[float, float]] = field(default_factory=dict)
    keep: tuple[str, ...] = ()
    single: bool = False

    @property
    def noisy(self) -> int:
        return len(self.counts) + len(self.means)


def dp_spec(query: Query) -> DpSpec:
    """The query's ``// dp:`` header; an error naming the query if it has none."""
    text = query.header.get("dp")
    if not text:
        raise QueryParameterError(
            f"query {query.name!r} has no differentially private form (no '// dp:' header)"
        )
    counts: list[str] = []
    means: dict[str, tuple[float, float]] = {}
    keep: list[str] = []
    single = False
    for part in (p.strip() for p in text.split(";") if p.strip()):
        if part == "single":
            single = True
        elif part.startswith("count "):
            counts += [c.strip() for c in part[6:].split(",")]
        elif part.startswith("keep "):
            keep += [c.strip() for c in part[5:].split(",")]
        elif match := _MEAN.match(part):
            means[match.group(1)] = (float(match.group(2)), float(match.group(3)))
        else:
            raise QueryParameterError(f"query {query.name!r}: cannot read dp part {part!r}")
    if len(counts) != 1:
        raise QueryParameterError(f"query {query.name!r}: dp needs exactly one count column")
    return DpSpec(tuple(counts), means, tuple(keep), single)


def laplace(value: float, scale: float, *, integer: bool) -> float:
    """``value`` plus OpenDP's Laplace noise (discrete for integers). OpenDP's sampler draws
    from the system's secure randomness and cannot be seeded, by design."""
    mechanism = _mechanism(scale, integer)
    return float(mechanism(int(value) if integer else float(value)))


@cache
def _mechanism(scale: float, integer: bool) -> Any:
    """OpenDP's Laplace measurement of this scale, built once (a release applies it per row)."""
    import opendp.prelude as dp  # only on the DP path: importing it takes a few hundred ms

    dp.enable_features("contrib")
    if integer:
        space = dp.atom_domain(T="i64"), dp.absolute_distance(T="i64")
    else:
        space = dp.atom_domain(T="f64", nan=False), dp.absolute_distance(T="f64")
    return dp.m.make_laplace(*space, scale=scale)


@dataclass
class Release:
    rows: list[dict[str, Any]]
    epsilon: float
    suppressed: int
    spent: float  # the data set's budget spent, this query included
    total: float


def privatise(
    rows: list[dict[str, Any]], spec: DpSpec, epsilon: float, min_group: int
) -> tuple[list[dict[str, Any]], int]:
    """Noisy counts and means, kept keys, every other column withheld; small groups dropped.
    Returns (rows, how many were suppressed)."""
    if spec.single:
        rows = rows[:1]
    each = epsilon / spec.noisy
    (count_column,) = spec.counts
    out: list[dict[str, Any]] = []
    suppressed = 0
    for row in rows:
        exact = int(row.get(count_column) or 0)
        noisy = max(0, round(laplace(exact, 1.0 / each, integer=True)))
        if noisy < min_group:
            suppressed += 1
            continue
        released: dict[str, Any] = dict.fromkeys(row)
        released.update({k: row[k] for k in spec.keep if k in row})
        released[count_column] = noisy
        for column, (low, high) in spec.means.items():
            mean = row.get(column)
            if mean is None:
                continue
            sensitivity = max(abs(low), abs(high))
            total = laplace(float(mean) * exact, sensitivity / each, integer=False)
            released[column] = min(high, max(low, total / max(noisy, 1)))
        out.append(released)
    return out, suppressed


# A query's ε: below MIN_EPSILON the Laplace scale on a count (1/ε per noisy column) passes
# 10^4 and grows without bound (1e-300 released counts of 2^63; 5e-324 divided by zero).
MIN_EPSILON = 1e-3
MAX_EPSILON = 100.0


class BudgetLedger:
    """Per data set: every DP query's ε, appended to a private JSON-lines file under a lock.

    A data set is a Neo4j database, and Neo4j's database names are case-insensitive: the
    ledger is keyed by the name case-folded, so ``NEO4J`` and ``neo4j`` spend one budget."""

    def __init__(self, folder: Path, dataset: str, total: float) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", dataset):
            raise QueryParameterError(f"dataset: {dataset!r} is not a data set name")
        dataset = dataset.casefold()
        self.path = folder / f"dp-budget-{dataset}.jsonl"
        self.dataset = dataset
        self.total = total

    def spent(self) -> float:
        if not self.path.exists():
            return 0.0
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return sum(float(json.loads(line)["epsilon"]) for line in lines if line.strip())

    def charge(self, epsilon: float, query: str) -> float:
        """Record ``epsilon`` for ``query``, or raise :class:`BudgetExhausted` naming the
        budget; returns the spent total after the charge."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "r+", encoding="utf-8") as ledger:
            fcntl.flock(ledger, fcntl.LOCK_EX)
            spent = self.spent()
            if spent + epsilon > self.total + 1e-12:
                raise BudgetExhausted(
                    f"privacy budget of data set {self.dataset!r} would be exceeded: spent "
                    f"{spent:g} of {self.total:g} (privacy.dp_total_epsilon); {query!r} asks "
                    f"for {epsilon:g}"
                )
            entry = {"at": time.time(), "query": query, "epsilon": epsilon}
            ledger.write(json.dumps(entry) + "\n")
            ledger.flush()
            os.fsync(ledger.fileno())
        return spent + epsilon


def release(
    query: Query,
    run: Callable[[], list[dict[str, Any]]],
    *,
    epsilon: float,
    ledger: BudgetLedger,
    min_group: int,
) -> Release:
    """Check the query has a DP form and the budget allows ``epsilon``, charge it, then run the
    query (``run()`` returns its exact rows) and privatise them."""
    if not MIN_EPSILON <= epsilon <= MAX_EPSILON:  # also refuses NaN
        raise QueryParameterError(
            f"--dp-epsilon must lie in [{MIN_EPSILON:g}, {MAX_EPSILON:g}] (found {epsilon!r}): "
            "smaller, the noise on a count outgrows any integer and the release means nothing"
        )
    spec = dp_spec(query)
    spent = ledger.charge(epsilon, query.name)
    rows, suppressed = privatise(run(), spec, epsilon, min_group)
    return Release(rows, epsilon, suppressed, spent, ledger.total)


def private_query(
    settings: Settings, client: GraphClient, name: str, pairs: list[str], epsilon: float
) -> Release:
    """An analyst query's differentially private release, charged to the budget of the
    configured database."""
    privacy = settings.privacy
    query = load_query(name)
    ledger = BudgetLedger(
        settings.state / "privacy", settings.neo4j.database, privacy.dp_total_epsilon
    )

    def run() -> list[dict[str, Any]]:
        return run_analyst_query(client, name, pairs, timeout_s=settings.neo4j.analyst_timeout_s)

    parse_params(query, pairs)  # a bad parameter is refused before the budget is charged
    return release(query, run, epsilon=epsilon, ledger=ledger, min_group=privacy.dp_min_group)
