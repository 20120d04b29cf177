"""A customer's value: RFM, the repeat-purchase forecast, CLV and the lifecycle stage.

From purchase occasions (:mod:`engine.dimensions.repeat_purchases`) up to ``end_day``:

- **RFM**: recency (days since the last occasion), frequency (occasions), monetary (mean spend
  per occasion), each scored 1-5 by the population's quintile boundaries (equal values share a
  score; 5 = most recent / most frequent / highest spend; an incremental run keeps the full
  run's boundaries), and a named segment from the (R, F) grid
  below - the usual RFM map.
- **Forecast**: the purchase-count model is chosen on a validation split *inside* the data
  (fit on all but the last third of the time, predict that third, lowest mean absolute error
  wins) among BG/NBD, Pareto/NBD and the naive "same rate as before", then refitted on all of
  it. It gives the probability the customer is still active and the expected occasions over the
  next ``horizon`` units; Gamma-Gamma gives the expected spend per occasion.
- **CLV** over ``clv_horizon`` units: expected occasions in each unit times expected spend,
  discounted at ``discount_per_unit``.
- **Lifecycle stage** (rules, in this order): ``churned`` if P(active) < 0.1; ``lapsed`` if
  P(active) < 0.3; ``new`` if the first occasion lies within the last ``new_units``; ``at risk``
  if P(active) < 0.7 or the customer has been quiet for more than twice their usual gap (the
  population's median gap for one-time buyers); ``active`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import Tensor

from engine.dimensions.repeat_purchases import Calibration, Occasions, calibrate, holdout_counts
from engine.models.btyd import (
    BGNBD,
    DTYPE,
    GammaGamma,
    ParetoNBD,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_pareto_nbd,
    per_customer,
)

STAGES = ("new", "active", "at risk", "lapsed", "churned")

# (R, F) score -> segment; every one of the 25 cells is named exactly once
RFM_SEGMENTS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "champions": ((5,), (4, 5)),
    "loyal": ((3, 4), (4, 5)),
    "potential loyalists": ((4, 5), (2, 3)),
    "new customers": ((5,), (1,)),
    "promising": ((4,), (1,)),
    "need attention": ((3,), (3,)),
    "about to sleep": ((3,), (1, 2)),
    "at risk": ((1, 2), (3, 4)),
    "cannot lose them": ((1, 2), (5,)),
    "hibernating": ((1, 2), (1, 2)),
}


@dataclass(frozen=True)
class ValueConfig:
    unit_days: float = 7.0  # the models' time unit
    horizon: float = 13.0  # units ahead for "expected purchases" and churn (a quarter)
    clv_horizon: float = 52.0  # units of CLV (a year)
    # 10 % a year as a weekly rate that compounds to exactly 10 % over 52 weeks (0.10 / 52 would
    # compound to 10.5 %)
    discount_per_unit: float = 1.10 ** (1 / 52) - 1
    new_units: float = 4.0
    validation_fraction: float = 1 / 3


class NaiveRate:
    """Each customer buys at their past rate, forever: x / T per unit (the baseline to beat)."""

    def params(self) -> dict[str, float]:
        return {}

    def expected_purchases(self, s: Any, t: float) -> Tensor:
        return s.x / s.T.clamp(min=1e-9) * t

    def probability_alive(self, s: Any) -> Tensor:
        return torch.ones_like(s.x)


CountModel = BGNBD | ParetoNBD | NaiveRate


def _fit(name: str, cal: Calibration) -> CountModel:
    s = cal.summary
    born = cal.born
    summary = type(s)(s.x[born], s.t_x[born], s.T[born])
    if name == "bg/nbd":
        return fit_bgnbd(summary)
    if name == "pareto/nbd":
        return fit_pareto_nbd(summary)
    return NaiveRate()


def choose_count_model(
    o: Occasions, n_users: int, end_day: int, config: ValueConfig
) -> tuple[CountModel, dict[str, Any]]:
    """The purchase-count model with the lowest validation MAE, refitted up to ``end_day``."""
    first = int(o.day.min()) if o.day.numel() else end_day
    valid_days = int((end_day - first) * config.validation_fraction)
    cut = end_day - valid_days
    table: dict[str, float] = {}
    if valid_days >= config.unit_days:
        early = calibrate(o, n_users, cut, config.unit_days)
        actual = holdout_counts(o, n_users, cut, end_day)[early.born]
        s = early.summary
        seen = type(s)(s.x[early.born], s.t_x[early.born], s.T[early.born])
        for name in ("bg/nbd", "pareto/nbd", "naive"):
            try:
                model = _fit(name, early)
                horizon = valid_days / config.unit_days
                guess = per_customer(seen, partial(model.expected_purchases, t=horizon))
                table[name] = float((guess - actual).abs().mean())
            except (ValueError, RuntimeError):  # a fit that fails on this data cannot ship
                continue
    best = min(table, key=table.__getitem__) if table else "bg/nbd"
    full = calibrate(o, n_users, end_day, config.unit_days)
    try:
        model = _fit(best, full)
    except (ValueError, RuntimeError):
        best, model = "naive", NaiveRate()
    return model, {"shipped": best, "validation_mae": table, "validation_days": valid_days}


def breakpoints(values: Tensor) -> list[float]:
    """The population's quintile boundaries (20, 40, 60, 80 %) of ``values``."""
    if values.numel() == 0:
        return []
    levels = torch.tensor([0.2, 0.4, 0.6, 0.8], dtype=DTYPE)
    return torch.quantile(values.to(DTYPE), levels).tolist()


def quintile_score(values: Tensor, bounds: list[float]) -> Tensor:
    """1..5: one plus the boundaries a value lies above (equal values share a score; 5 = the
    highest fifth)."""
    if not bounds:
        return torch.full(values.shape, 3, dtype=torch.long)
    edges = torch.tensor(bounds, dtype=DTYPE)
    return 1 + (values.to(DTYPE)[:, None] > edges[None, :]).sum(1)


def rfm_segment(r: int, f: int) -> str:
    for name, (rs, fs) in RFM_SEGMENTS.items():
        if r in rs and f in fs:
            return name
    raise ValueError(f"RFM scores out of range: R={r}, F={f}")


@dataclass
class Value:
    """Value columns for every user [N]; users without purchases have ``buyer`` False and
    nulls (NaN / empty strings) in the purchase-derived columns."""

    buyer: Tensor
    recency_days: Tensor
    frequency: Tensor
    monetary: Tensor
    total_spend: Tensor
    rfm_score: list[str]
    rfm_segment: list[str]
    probability_active: Tensor
    expected_purchases: Tensor
    expected_spend: Tensor
    clv: Tensor
    usual_gap_days: Tensor
    stage: list[str]
    fit: dict[str, Any]


def _discounted_purchases(model: CountModel, s: Any, config: ValueConfig) -> Tensor:
    steps = max(1, round(config.clv_horizon))
    total = torch.zeros_like(s.x)
    before = torch.zeros_like(s.x)
    for k in range(1, steps + 1):
        upto = model.expected_purchases(s, float(k))
        total += (upto - before) / (1 + config.discount_per_unit) ** k
        before = upto
    return total


def count_model_from(fit: dict[str, Any]) -> CountModel:
    """The count model a fit record (``Value.fit``) describes."""
    params = fit["count_model"]
    if fit["shipped"] == "bg/nbd":
        return BGNBD(**params)
    if fit["shipped"] == "pareto/nbd":
        return ParetoNBD(**params)
    return NaiveRate()


def compute_value(
    o: Occasions,
    n_users: int,
    end_day: int,
    config: ValueConfig = ValueConfig(),
    fitted: dict[str, Any] | None = None,
) -> Value:
    """Value columns for every user; ``fitted`` (a full run's ``Value.fit``) reuses its models
    and RFM boundaries, so an incremental run scores a few users on the population's scale."""
    if fitted is not None:
        model, fit = count_model_from(fitted), dict(fitted)
    else:
        model, fit = choose_count_model(o, n_users, end_day, config)
    cal = calibrate(o, n_users, end_day, config.unit_days)
    buyer = cal.born
    s = cal.summary
    nan = torch.full((n_users,), float("nan"), dtype=DTYPE)
    recency = torch.where(buyer, (end_day - cal.last_day).to(DTYPE), nan)
    frequency = cal.occasions.to(DTYPE)
    monetary = torch.where(buyer, cal.total_spend / frequency.clamp(min=1), nan)
    gg: GammaGamma | None = None
    if fitted is not None:
        gg = GammaGamma(**fitted["gamma_gamma"]) if fitted.get("gamma_gamma") else None
    elif bool(((s.x > 0) & (cal.mean_repeat_value > 0)).sum() >= 20):
        try:
            gg = fit_gamma_gamma(s.x, cal.mean_repeat_value)
        except (ValueError, RuntimeError):
            gg = None
    if gg is not None and gg.q > 1:
        spend = gg.expected_spend(s.x, cal.mean_repeat_value)
        fit["gamma_gamma"] = gg.params()
    else:  # too few repeat buyers with amounts: their own mean, else the population's
        known = monetary[buyer & (monetary > 0)]
        population = float(known.mean()) if known.numel() else 0.0
        spend = torch.where(buyer & (monetary > 0), monetary, torch.full_like(monetary, population))
        fit["gamma_gamma"] = None
    fit["count_model"] = model.params()
    alive = torch.where(buyer, per_customer(s, model.probability_alive), nan)
    expected = per_customer(s, lambda d: model.expected_purchases(d, config.horizon))
    expected = torch.where(buyer, expected, nan)
    discounted = per_customer(s, lambda d: _discounted_purchases(model, d, config))
    clv = torch.where(buyer, discounted * spend, nan)
    gap = torch.where(s.x > 0, s.t_x / s.x.clamp(min=1) * config.unit_days, nan)
    if fitted is not None:
        median_gap = float(fitted["median_gap_days"])
    else:
        known_gap = gap[~gap.isnan()]
        median_gap = float(known_gap.median()) if known_gap.numel() else 30.0
        fit["median_gap_days"] = median_gap
        fit["rfm_bounds"] = {
            "recency": breakpoints(-recency[buyer]),
            "frequency": breakpoints(frequency[buyer]),
            "monetary": breakpoints(monetary[buyer]),
        }
    bounds = fit["rfm_bounds"]
    usual = torch.where(gap.isnan(), torch.full_like(gap, median_gap), gap)
    usual = torch.where(buyer, usual, nan)
    r_score = quintile_score(-recency[buyer], bounds["recency"])
    f_score = quintile_score(frequency[buyer], bounds["frequency"])
    m_score = quintile_score(monetary[buyer], bounds["monetary"])
    scores, segments, stages = [""] * n_users, [""] * n_users, [""] * n_users
    born_at = s.T * config.unit_days  # days since the first occasion
    for j, i in enumerate(torch.nonzero(buyer).flatten().tolist()):
        r, f, m = int(r_score[j]), int(f_score[j]), int(m_score[j])
        scores[i], segments[i] = f"{r}{f}{m}", rfm_segment(r, f)
        p = float(alive[i])
        if p < 0.1:
            stage = "churned"
        elif p < 0.3:
            stage = "lapsed"
        elif float(born_at[i]) <= config.new_units * config.unit_days:
            stage = "new"
        elif p < 0.7 or float(recency[i]) > 2 * float(usual[i]):
            stage = "at risk"
        else:
            stage = "active"
        stages[i] = stage
    return Value(
        buyer,
        recency,
        frequency,
        monetary,
        cal.total_spend,
        scores,
        segments,
        alive,
        expected,
        spend,
        clv,
        usual,
        stages,
        fit,
    )
