"""Differentially private aggregates: the noise, the suppression and the budget."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from core.errors import QueryParameterError
from graph.analyst import analyst_queries
from graph.queries import load_query
from jobs.private_aggregates import (
    BudgetExhausted,
    BudgetLedger,
    DpSpec,
    dp_spec,
    laplace,
    privatise,
    release,
)

# OpenDP draws from the system's secure randomness and cannot be seeded (by design), so each
# statistical test allows a false failure with probability 1e-6: never in practice.
ALPHA = 1e-6


def test_count_noise_is_the_discrete_laplace_of_its_scale() -> None:
    scale, n = 2.0, 20_000
    draws = np.array([laplace(0, scale, integer=True) for _ in range(n)], dtype=np.int64)
    assert np.all(draws == np.round(draws))  # integers: a count stays a count
    # P(k) = (1 - p) / (1 + p) * p^|k| with p = exp(-1/scale); bins -8..8 and the two tails
    p = math.exp(-1 / scale)
    ks = np.arange(-8, 9)
    pmf = (1 - p) / (1 + p) * p ** np.abs(ks)
    tail = (1 - pmf.sum()) / 2
    observed = [int((draws < -8).sum()), *((draws == k).sum() for k in ks), int((draws > 8).sum())]
    expected = n * np.array([tail, *pmf, tail])
    assert stats.chisquare(observed, expected).pvalue > ALPHA
    # and a scale twice as large is told apart: the test can fail
    wide = np.array([laplace(0, 2 * scale, integer=True) for _ in range(n)])
    observed = [int((wide < -8).sum()), *((wide == k).sum() for k in ks), int((wide > 8).sum())]
    assert stats.chisquare(observed, expected).pvalue < ALPHA


def test_sum_noise_is_the_continuous_laplace_of_its_scale() -> None:
    draws = np.array([laplace(5.0, 0.5, integer=False) for _ in range(10_000)])
    assert stats.kstest(draws, stats.laplace(loc=5.0, scale=0.5).cdf).pvalue > ALPHA


def _rows() -> list[dict[str, object]]:
    return [
        {"segment": 0, "label": "rock", "users": 5_000, "cold_share": 0.25, "user_id": "x"},
        {"segment": 1, "label": "jazz", "users": 3, "cold_share": 0.5, "user_id": "y"},
    ]


def test_small_groups_are_suppressed_and_undeclared_columns_withheld() -> None:
    spec = DpSpec(("users",), {"cold_share": (0.0, 1.0)}, ("segment", "label"))
    rows, suppressed = privatise(_rows(), spec, epsilon=1.0, min_group=20)
    assert suppressed == 1 and len(rows) == 1
    (row,) = rows
    assert row["segment"] == 0 and row["label"] == "rock"
    assert row["user_id"] is None  # not declared: withheld
    assert abs(int(row["users"]) - 5_000) < 200  # scale 2 (epsilon split over two columns)
    assert 0.0 <= float(row["cold_share"]) <= 1.0 and abs(float(row["cold_share"]) - 0.25) < 0.05


def test_an_exhausted_budget_refuses_and_names_it(tmp_path: Path) -> None:
    query = load_query("segment_summary")
    ledger = BudgetLedger(tmp_path, "shop", total=1.0)
    ran: list[int] = []

    def run() -> list[dict[str, object]]:
        ran.append(1)
        return _rows()

    first = release(query, run, epsilon=0.6, ledger=ledger, min_group=20)
    assert first.spent == pytest.approx(0.6) and len(ran) == 1
    with pytest.raises(BudgetExhausted, match=r"'shop'.*0\.6 of 1.*dp_total_epsilon.*0\.5"):
        release(query, run, epsilon=0.5, ledger=ledger, min_group=20)
    assert len(ran) == 1  # refused before the query ran
    assert ledger.spent() == pytest.approx(0.6)
    assert (tmp_path / "dp-budget-shop.jsonl").stat().st_mode & 0o777 == 0o600
    release(query, run, epsilon=0.4, ledger=ledger, min_group=20)  # exactly the rest is fine
    assert ledger.spent() == pytest.approx(1.0)


def test_one_database_has_one_budget_however_its_name_is_spelt(tmp_path: Path) -> None:
    """Neo4j's database names are case-insensitive: NEO4J, Neo4j and neo4j are one data set,
    and spend one budget (each spelling got a fresh one)."""
    query = load_query("segment_summary")
    release(query, _rows, epsilon=1.0, ledger=BudgetLedger(tmp_path, "neo4j", 1.0), min_group=1)
    for spelling in ("NEO4J", "Neo4j", "nEo4J"):
        with pytest.raises(BudgetExhausted, match="'neo4j'"):
            release(
                query, _rows, epsilon=0.5, ledger=BudgetLedger(tmp_path, spelling, 1.0), min_group=1
            )
    assert BudgetLedger(tmp_path, "NEO4J", 1.0).spent() == pytest.approx(1.0)


@pytest.mark.parametrize("epsilon", [1e-300, 5e-324, 1e-4, float("nan"), float("inf"), -1.0])
def test_an_epsilon_too_small_to_mean_anything_is_refused_before_it_is_charged(
    tmp_path: Path, epsilon: float
) -> None:
    """ε = 1e-300 released counts of 2^63; 5e-324 charged the ledger and then divided by
    zero. Both are refused, naming the range, and nothing is charged."""
    ledger = BudgetLedger(tmp_path, "shop", total=10.0)
    with pytest.raises(QueryParameterError, match=r"dp-epsilon must lie in \[0\.001, 100\]"):
        release(load_query("segment_summary"), _rows, epsilon=epsilon, ledger=ledger, min_group=1)
    assert ledger.spent() == 0.0


def test_the_smallest_epsilon_allowed_releases_counts_on_a_sane_scale(tmp_path: Path) -> None:
    ledger = BudgetLedger(tmp_path, "shop", total=10.0)
    released = release(
        load_query("segment_summary"), _rows, epsilon=1e-3, ledger=ledger, min_group=1
    )
    assert all(abs(row["users"]) < 10**7 for row in released.rows)


def test_only_queries_with_a_dp_form_run_privately(tmp_path: Path) -> None:
    ledger = BudgetLedger(tmp_path, "shop", total=10.0)
    with pytest.raises(QueryParameterError, match=r"top_influencers.*no differentially private"):
        release(load_query("top_influencers"), list, epsilon=1.0, ledger=ledger, min_group=1)
    assert ledger.spent() == 0.0
    with pytest.raises(QueryParameterError, match="dp-epsilon"):
        release(load_query("segment_summary"), list, epsilon=0.0, ledger=ledger, min_group=1)
    with pytest.raises(QueryParameterError, match="data set name"):
        BudgetLedger(tmp_path, "../elsewhere", total=1.0)


def test_every_dp_header_reads_and_names_returned_columns() -> None:
    declared = [q for q in analyst_queries() if "dp" in q.header]
    assert len(declared) >= 4, [q.name for q in declared]
    for query in declared:
        spec = dp_spec(query)
        returned = query.header["returns"]
        for column in (*spec.counts, *spec.means, *spec.keep):
            assert column in returned, (query.name, column)
