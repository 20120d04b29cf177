"""The scale bench's meter and exponents: what its table reports is what happened."""

from __future__ import annotations

import math

import pytest

from bench.scale import StageMeter, growth


def test_the_meter_times_each_stage_and_records_its_memory_at_start_and_peak() -> None:
    meter = StageMeter(server_pid=None, period_s=60.0)  # no sample in between: peaks exact
    with meter.running():
        meter.enter("train")
        meter.enter("train")  # the same stage again: no new start
        meter.enter("influence")
        grown = b"\1" * (64 * 2**20)  # 64 MiB resident inside "influence" only, briefly
        del grown
        meter.enter("profile")
    assert set(meter.seconds) == {"train", "influence", "profile"}
    assert all(seconds >= 0 for seconds in meter.seconds.values())
    start, peak = meter.start_rss, meter.peak_rss
    assert peak["influence"] - start["influence"] > 48 * 2**20, (start, peak)
    assert peak["train"] - start["train"] < 48 * 2**20, (start, peak)
    assert all(peak[stage] >= start[stage] > 0 for stage in meter.seconds)


def test_growth_gives_the_exponent_between_sizes_and_end_to_end() -> None:
    rows = [
        {"users": 10, "train_s": 1.0, "total_s": 2.0},
        {"users": 100, "train_s": 10.0, "total_s": 200.0},
        {"users": 1000, "train_s": 100.0, "total_s": None},
    ]
    steps = growth(rows)
    assert [(s["from"], s["to"]) for s in steps] == [(10, 100), (100, 1000), (10, 1000)]
    assert steps[0]["train_k"] == pytest.approx(1.0)
    assert steps[0]["total_k"] == pytest.approx(2.0)
    assert "total_k" not in steps[1]  # a stage with no figure at one size has no exponent
    assert steps[2]["train_k"] == pytest.approx(math.log(100) / math.log(100))
