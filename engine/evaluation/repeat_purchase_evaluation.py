"""The published protocol for repeat-purchase models: calibrate, then predict a holdout.

Fit BG/NBD, Pareto/NBD (and Gamma-Gamma on spend) on the calibration period; predict each
customer's repeat occasions in the holdout; report the mean absolute error per customer beside
the naive "same rate as before" and the model a profile would ship (chosen on a validation
split inside the calibration period, :func:`engine.dimensions.value.choose_count_model`), and the
weekly
cumulative repeat occasions of the cohort, actual against each model's unconditional forecast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from engine.dimensions.repeat_purchases import (
    Calibration,
    Occasions,
    calibrate,
    holdout_counts,
    weekly_cumulative,
)
from engine.dimensions.value import CountModel, NaiveRate, ValueConfig, choose_count_model
from engine.models.btyd import (
    BGNBD,
    DTYPE,
    GammaGamma,
    ParetoNBD,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_pareto_nbd,
)


@dataclass(frozen=True)
class _Fitted:
    """The models fitted on the calibration period (the occasions up to its end)."""

    cal: Calibration
    bg: BGNBD
    pn: ParetoNBD
    gg: GammaGamma
    shipped: CountModel
    choice: dict[str, Any]

    def predictions(self, t: float) -> dict[str, Tensor]:
        """Each method's expected repeat occasions over ``t`` units, per born customer."""
        s, born = self.cal.summary, self.cal.born
        seen = type(s)(s.x[born], s.t_x[born], s.T[born])
        methods: dict[str, CountModel] = {
            "naive": NaiveRate(),
            "bg/nbd": self.bg,
            "pareto/nbd": self.pn,
        }
        methods["shipped"] = self.shipped
        return {name: model.expected_purchases(seen, t) for name, model in methods.items()}


def _fitted(o: Occasions, n_users: int, end_day: int, unit_days: float) -> _Fitted:
    cal = calibrate(o, n_users, end_day, unit_days)
    s = cal.summary
    seen = type(s)(s.x[cal.born], s.t_x[cal.born], s.T[cal.born])
    shipped, choice = choose_count_model(o, n_users, end_day, ValueConfig(unit_days=unit_days))
    return _Fitted(
        cal,
        fit_bgnbd(seen),
        fit_pareto_nbd(seen),
        fit_gamma_gamma(s.x, cal.mean_repeat_value),
        shipped,
        choice,
    )


def repeat_purchase_predictions(
    o: Occasions, n_users: int, *, calibration_end_day: int, holdout_days: int, unit_days: float
) -> dict[str, Tensor]:
    """Each method's expected repeat occasions per born customer over ``holdout_days`` after
    ``calibration_end_day``, fitted on the occasions up to it."""
    fitted = _fitted(o, n_users, calibration_end_day, unit_days)
    return fitted.predictions(holdout_days / unit_days)


def evaluate_repeat_purchases(
    o: Occasions,
    n_users: int,
    *,
    start_day: int,
    calibration_end_day: int,
    holdout_days: int,
    unit_days: float = 7.0,
) -> dict[str, Any]:
    fitted = _fitted(o, n_users, calibration_end_day, unit_days)
    cal, bg, pn, gg, choice = fitted.cal, fitted.bg, fitted.pn, fitted.gg, fitted.choice
    born = cal.born
    s = cal.summary
    actual = holdout_counts(o, n_users, calibration_end_day, calibration_end_day + holdout_days)[
        born
    ]
    rows = {}
    for name, guess in fitted.predictions(holdout_days / unit_days).items():
        rows[name] = {
            "mae": float((guess - actual).abs().mean()),
            "predicted_total": float(guess.sum()),
        }
    weeks = round((calibration_end_day + holdout_days - start_day) / 7)
    actual_curve = weekly_cumulative(o, born, start_day, weeks)
    age_weeks = (start_day - cal.first_day[born]).to(DTYPE) / 7  # <= 0: weeks until birth
    ends = torch.arange(1, weeks + 1, dtype=DTYPE)
    since_birth = (ends[:, None] + age_weeks[None, :]).clamp(min=0) * (7 / unit_days)
    curves = {"actual": actual_curve.tolist()}
    for name, model in (("bg/nbd", bg), ("pareto/nbd", pn)):
        curves[name] = model.expected_purchases_new(since_birth).sum(1).tolist()
    return {
        "customers": int(born.sum()),
        "repeat_buyers": int((s.x > 0).sum()),
        "holdout_actual_total": float(actual.sum()),
        "params": {"bg/nbd": bg.params(), "pareto/nbd": pn.params(), "gamma-gamma": gg.params()},
        "holdout": rows,
        "shipped": choice,
        "calibration_weeks": (calibration_end_day - start_day) / 7,
        "weekly_cumulative": curves,
    }
