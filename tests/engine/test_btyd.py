"""The repeat-purchase models: CDNOW's published parameters, the series they rest on, and the
parameters recovered from purchases simulated by the model itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.special
import torch

from engine.dimensions.adoptions import DAY_MS
from engine.dimensions.repeat_purchases import calibrate, holdout_counts, occasions
from engine.models.btyd import (
    BGNBD,
    GammaGamma,
    ParetoNBD,
    Summary,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_pareto_nbd,
    hyp2f1,
)
from graph.datasets.cdnow import START, read_purchases

CDNOW = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "cdnow"
START_DAY = int(START.timestamp() * 1000) // DAY_MS
CALIBRATION_END = START_DAY + 272  # 1997-09-30: 39 weeks


@pytest.fixture(scope="module")
def cdnow():  # type: ignore[no-untyped-def]
    p = read_purchases(CDNOW / "CDNOW_sample.txt")
    o = occasions(p.user, p.ts_ms, p.amount)
    return p, o, calibrate(o, len(p.customer_ids), CALIBRATION_END)


def test_the_sample_is_the_papers(cdnow) -> None:  # type: ignore[no-untyped-def]
    p, _, cal = cdnow
    assert len(p.customer_ids) == 2357 and p.user.numel() == 6919
    assert int((cal.summary.x > 0).sum()) == 946  # the Gamma-Gamma paper's repeat buyers
    assert float(cal.summary.T.max()) == pytest.approx(272 / 7)


def test_bgnbd_reproduces_the_published_parameters(cdnow) -> None:  # type: ignore[no-untyped-def]
    fit = fit_bgnbd(cdnow[2].summary)
    got = (fit.r, fit.alpha, fit.a, fit.b)
    assert [round(v, 3) for v in got] == [0.243, 4.414, 0.793, 2.426]
    assert round(fit.log_likelihood, 1) == -9582.4


def test_pareto_nbd_reproduces_the_published_parameters(cdnow) -> None:  # type: ignore[no-untyped-def]
    fit = fit_pareto_nbd(cdnow[2].summary)
    got = (fit.r, fit.alpha, fit.s, fit.beta)
    assert [round(v, 3) for v in got] == [0.553, 10.578, 0.606, 11.669]
    assert round(fit.log_likelihood, 1) == -9595.0


def test_gamma_gamma_reproduces_the_published_parameters(cdnow) -> None:  # type: ignore[no-untyped-def]
    cal = cdnow[2]
    fit = fit_gamma_gamma(cal.summary.x, cal.mean_repeat_value)
    assert [round(fit.p, 2), round(fit.q, 2), round(fit.gamma, 2)] == [6.25, 3.74, 15.44]
    assert round(fit.log_likelihood, 2) == -4055.92


def test_holdout_predictions_are_close_to_what_happened(cdnow) -> None:  # type: ignore[no-untyped-def]
    p, o, cal = cdnow
    actual = holdout_counts(o, len(p.customer_ids), CALIBRATION_END, CALIBRATION_END + 273)
    for model in (
        BGNBD(0.243, 4.414, 0.793, 2.426),
        ParetoNBD(0.553, 10.578, 0.606, 11.669),
    ):
        expected = model.expected_purchases(cal.summary, 39.0)
        assert 0.8 < float(expected.sum() / actual.sum()) < 1.1, type(model).__name__
        # ranking customers: those expected to buy more do
        top = expected >= expected.quantile(0.9)
        assert float(actual[top].mean()) > 4 * float(actual[~top].mean())


def test_the_series_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.1, 30, 200), rng.uniform(0.1, 30, 200)
    c, z = a + rng.uniform(0.5, 5, 200), rng.uniform(0, 0.95, 200)
    ours = hyp2f1(*(torch.from_numpy(v) for v in (a, b, c, z))).numpy()
    np.testing.assert_allclose(ours, scipy.special.hyp2f1(a, b, c, z), rtol=1e-9)


def test_probabilities_and_expectations_behave() -> None:
    s = Summary(
        torch.tensor([0.0, 3.0, 3.0]), torch.tensor([0.0, 30.0, 5.0]), torch.full((3,), 39.0)
    )
    bg = BGNBD(0.243, 4.414, 0.793, 2.426)
    alive = bg.probability_alive(s)
    assert alive[0] == 1.0 and alive[1] > alive[2]  # a recent buyer is likelier alive
    pn = ParetoNBD(0.553, 10.578, 0.606, 11.669)
    assert pn.probability_alive(s)[1] > pn.probability_alive(s)[2]
    for model in (bg, pn):
        soon, later = model.expected_purchases(s, 10.0), model.expected_purchases(s, 40.0)
        assert bool((later > soon).all() and (soon >= 0).all())
    gg = GammaGamma(6.25, 3.74, 15.44)
    spend = gg.expected_spend(torch.tensor([0.0, 1.0, 50.0]), torch.tensor([0.0, 100.0, 100.0]))
    assert spend[0] == pytest.approx(6.25 * 15.44 / 2.74)
    assert spend[0] < spend[1] < spend[2] < 100  # shrunk toward the population, less with x


def _simulate_bgnbd(n: int, r: float, alpha: float, a: float, b: float, T: float) -> Summary:
    """Purchases drawn from the BG/NBD story: Poisson purchasing at a gamma rate, and after
    each purchase death with a beta probability."""
    rng = np.random.default_rng(7)
    lam, p = rng.gamma(r, 1 / alpha, n), rng.beta(a, b, n)
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > T:
                break
            x[i], t_x[i] = x[i] + 1, t
            if rng.random() < p[i]:
                break
    return Summary(torch.from_numpy(x), torch.from_numpy(t_x), torch.full((n,), T))


def test_bgnbd_recovers_the_parameters_it_simulated() -> None:
    truth = (0.5, 3.0, 0.8, 3.0)
    fit = fit_bgnbd(_simulate_bgnbd(6000, *truth, T=52.0))
    for got, want in zip((fit.r, fit.alpha, fit.a, fit.b), truth, strict=True):
        assert got == pytest.approx(want, rel=0.25)


def test_fitting_on_distinct_summaries_is_fitting_on_every_customer(cdnow) -> None:  # type: ignore[no-untyped-def]
    s = cdnow[2].summary
    distinct, counts, inverse = s.distinct()
    assert distinct.x.numel() < s.x.numel() and int(counts.sum()) == s.x.numel()
    for column in ("x", "t_x", "T"):
        assert torch.equal(getattr(distinct, column)[inverse], getattr(s, column))
    every = torch.ones(s.x.numel(), dtype=torch.float64)
    for fit in (fit_bgnbd, fit_pareto_nbd):
        once, each = fit(s), fit(s, weight=every)
        assert once.log_likelihood == pytest.approx(each.log_likelihood, rel=1e-9)
        assert once.params() == pytest.approx(each.params(), rel=1e-5)
