"""Value: RFM scores and segments, the chosen forecast, CLV and lifecycle stages."""

from __future__ import annotations

import itertools
import math

import torch

from engine.dimensions.adoptions import DAY_MS
from engine.dimensions.repeat_purchases import occasions
from engine.dimensions.value import (
    RFM_SEGMENTS,
    ValueConfig,
    breakpoints,
    compute_value,
    quintile_score,
    rfm_segment,
)

END = 400  # the last day observed


def _shop() -> torch.Tensor:
    """Rows (user, day, amount): 0 buys weekly to the end (big spender); 1 bought weekly then
    stopped 200 days ago; 2 bought once yesterday; 3..42 buy monthly, spread over the period;
    43 never bought."""
    rows = [(0, d, 100.0) for d in range(0, END + 1, 7)]
    rows += [(1, d, 20.0) for d in range(0, 200, 7)]
    rows += [(2, END - 1, 30.0)]
    for u in range(3, 43):
        rows += [(u, d, 10.0 + u) for d in range(u, END + 1, 30)]
    return torch.tensor(rows, dtype=torch.float64)


def _value():  # type: ignore[no-untyped-def]
    rows = _shop()
    o = occasions(rows[:, 0].long(), (rows[:, 1] * DAY_MS).long(), rows[:, 2])
    return compute_value(o, 44, END, ValueConfig())


def test_every_rfm_cell_has_exactly_one_segment() -> None:
    cells = list(itertools.product(range(1, 6), range(1, 6)))
    named = [rfm_segment(r, f) for r, f in cells]
    covered = sum(len(rs) * len(fs) for rs, fs in RFM_SEGMENTS.values())
    assert covered == 25 and len(named) == 25


def test_quintiles_share_ties_and_put_the_top_in_five() -> None:
    values = torch.tensor([1.0, 1.0, 1.0, 1.0, 9.0], dtype=torch.float64)
    q = quintile_score(values, breakpoints(values))
    assert q.tolist()[:4] == [q[0]] * 4 and int(q[4]) == 5 and int(q[0]) < 5


def test_value_columns_tell_the_customers_apart() -> None:
    v = _value()
    assert v.buyer.tolist() == [True] * 43 + [False]
    assert math.isnan(float(v.clv[43])) and v.stage[43] == "" and v.rfm_segment[43] == ""
    assert float(v.recency_days[0]) == 400 - 399 and float(v.frequency[0]) == 58
    assert float(v.monetary[0]) == 100.0
    assert v.rfm_segment[0] == "champions" and v.rfm_score[0].startswith("55")
    assert v.stage[0] == "active" and v.stage[1] in ("lapsed", "churned")
    assert v.stage[2] == "new"
    assert float(v.probability_active[0]) > 0.9 > float(v.probability_active[1])
    # the weekly big spender is worth most; the one who left is worth little
    assert int(torch.nan_to_num(v.clv, nan=-1).argmax()) == 0
    assert float(v.clv[1]) < 0.1 * float(v.clv[0])
    assert v.fit["shipped"] in ("bg/nbd", "pareto/nbd", "naive")
    assert set(v.fit["validation_mae"]) == {"bg/nbd", "pareto/nbd", "naive"}


def test_a_few_users_scored_with_the_full_fit_land_on_the_population_scale() -> None:
    rows = _shop()
    o = occasions(rows[:, 0].long(), (rows[:, 1] * DAY_MS).long(), rows[:, 2])
    full = compute_value(o, 44, END, ValueConfig())
    # the big spender and the one who left, alone, scored with the full run's fit
    keep = rows[:, 0] <= 1
    alone = occasions(rows[keep, 0].long(), (rows[keep, 1] * DAY_MS).long(), rows[keep, 2])
    few = compute_value(alone, 2, END, ValueConfig(), fitted=full.fit)
    assert few.rfm_score[:2] == full.rfm_score[:2] and few.stage[:2] == full.stage[:2]
    assert torch.allclose(few.clv[:2], full.clv[:2])
