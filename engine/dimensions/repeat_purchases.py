"""Purchases as the repeat-purchase models see them: occasions per customer in a period.

Same-day purchases are one occasion (the papers' convention, and the only sane one for order
lines); a customer's *birth* is their first occasion; ``x`` counts the occasions after it up to
the end of calibration, ``t_x`` is the last one's time and ``T`` the time observed, both from
birth, in ``unit_ms`` (a week by default). Spend per occasion is the sum of its amounts.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from engine.dimensions.adoptions import DAY_MS
from engine.models.btyd import DTYPE, Summary

WEEK_MS = 7 * DAY_MS


@dataclass(frozen=True)
class Occasions:
    """One row per (customer, day) with any purchase: [O] each, sorted by customer then time."""

    user: Tensor
    day: Tensor  # days since the epoch
    amount: Tensor  # the day's total spend (0 where amounts are unknown)


def occasions(user: Tensor, ts_ms: Tensor, amount: Tensor | None = None) -> Occasions:
    """Purchase rows (customer, time in ms, amount) merged into daily occasions (UTC days)."""
    day = torch.div(ts_ms, DAY_MS, rounding_mode="floor")
    value = amount.to(DTYPE) if amount is not None else torch.zeros(user.numel(), dtype=DTYPE)
    if user.numel() == 0:
        empty = torch.empty(0, dtype=torch.long)
        return Occasions(empty, empty, torch.empty(0, dtype=DTYPE))
    first = int(day.min())
    span = int(day.max()) - first + 1
    key = user * span + (day - first)  # one integer per (customer, day), ordered the same way
    unique, inverse = torch.unique(key, return_inverse=True)
    spend = torch.zeros(unique.numel(), dtype=DTYPE).index_add_(0, inverse, value)
    return Occasions(torch.div(unique, span, rounding_mode="floor"), unique % span + first, spend)


@dataclass(frozen=True)
class Calibration:
    """What the models are fitted on, per customer [N] (customers with no occasion before the
    end have ``born`` False and are left out of fits)."""

    summary: Summary  # in units
    born: Tensor  # bool: a first occasion on or before the end
    first_day: Tensor  # day of the first occasion (-1 if none)
    last_day: Tensor  # day of the latest occasion (-1 if none)
    mean_repeat_value: Tensor  # mean spend of the repeat occasions (0 if none)
    total_spend: Tensor  # all occasions up to the end
    occasions: Tensor  # all occasions up to the end (x + 1 for the born)


def calibrate(o: Occasions, n_users: int, end_day: int, unit_days: float = 7.0) -> Calibration:
    """Summaries of the occasions on or before ``end_day``; ``T`` runs to the end of that day's
    start (the papers measure from purchase day to the calibration end date)."""
    keep = o.day <= end_day
    user, day, amount = o.user[keep], o.day[keep], o.amount[keep]
    count = torch.bincount(user, minlength=n_users)
    big = torch.iinfo(torch.long).max
    first = torch.full((n_users,), big, dtype=torch.long).scatter_reduce(
        0, user, day, "amin", include_self=True
    )
    last = torch.full((n_users,), -1, dtype=torch.long).scatter_reduce(
        0, user, day, "amax", include_self=True
    )
    born = count > 0
    first = torch.where(born, first, torch.full_like(first, -1))
    total = torch.zeros(n_users, dtype=DTYPE).index_add_(0, user, amount)
    first_amount = torch.zeros(n_users, dtype=DTYPE)
    is_first = day == first[user]
    first_amount[user[is_first]] = amount[is_first]
    x = (count - 1).clamp(min=0).to(DTYPE)
    repeat_spend = total - first_amount
    mean_repeat = torch.where(x > 0, repeat_spend / x.clamp(min=1), torch.zeros_like(x))
    t_x = torch.where(born, (last - first).to(DTYPE), torch.zeros(n_users, dtype=DTYPE))
    T = torch.where(born, (end_day - first).to(DTYPE), torch.zeros(n_users, dtype=DTYPE))
    return Calibration(
        Summary(x, t_x / unit_days, T / unit_days),
        born,
        first,
        last,
        mean_repeat,
        total,
        count,
    )


def holdout_counts(o: Occasions, n_users: int, after_day: int, until_day: int) -> Tensor:
    """Occasions in ``(after_day, until_day]`` per customer [N]."""
    keep = (o.day > after_day) & (o.day <= until_day)
    return torch.bincount(o.user[keep], minlength=n_users).to(DTYPE)


def weekly_cumulative(o: Occasions, born: Tensor, start_day: int, weeks: int) -> Tensor:
    """Cumulative repeat occasions of the ``born`` customers per week from ``start_day`` [weeks]
    (first occasions excluded): the curve the papers plot against the model's."""
    keep = born[o.user]
    user, day = o.user[keep], o.day[keep]
    first = torch.full((born.numel(),), torch.iinfo(torch.long).max).scatter_reduce(
        0, user, day, "amin", include_self=True
    )
    repeat = day > first[user]
    week = torch.div(day[repeat] - start_day, 7, rounding_mode="floor")
    week = week[(week >= 0) & (week < weeks)]
    return torch.bincount(week, minlength=weeks).cumsum(0).to(DTYPE)
