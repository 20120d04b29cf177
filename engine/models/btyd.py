""" "Buy till you die" models of repeat purchasing: BG/NBD, Pareto/NBD and Gamma-Gamma.

Each customer is summarised as ``(x, t_x, T)``: ``x`` repeat purchases (purchase *occasions*
after the first), the time ``t_x`` of the last one and the time ``T`` observed, both measured
from the first purchase. A purchase-count model says how many purchases to expect next and how
likely the customer is still "alive"; the Gamma-Gamma model says how much each purchase is worth.

Implemented here from the papers' closed forms, in torch (float64), vectorised over customers so
one fit covers millions of users, on the GPU when there is one:

- BG/NBD: Fader, Hardie & Lee (2005), "Counting your customers the easy way", Marketing Science
  24(2); the likelihood (their eq. 6), P(alive) and the conditional expectation (eq. 10).
- Pareto/NBD: Schmittlein, Morrison & Colombo (1987), in the form of Fader, Hardie & Lee (2005),
  "A note on deriving the Pareto/NBD model and related expressions".
- Gamma-Gamma: Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves", and Fader &
  Hardie (2013), "The Gamma-Gamma model of monetary value".

Parameters are fitted by maximum likelihood: L-BFGS on their logarithms (so they stay positive),
with torch's autograd for the gradient. The Gauss hypergeometric series BG/NBD's conditional
expectation needs is summed in log space to convergence (:func:`hyp2f1`, argument in ``[0, 1)``);
the Pareto/NBD likelihood's integral over the death time is done by quadrature instead.
The published CDNOW parameters are the test of all of it
(``tests/engine/test_btyd.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

DTYPE = torch.float64


@dataclass(frozen=True)
class Summary:
    """Per-customer repeat-purchase summary [N] each, in one time unit (weeks, say)."""

    x: Tensor  # repeat purchase occasions
    t_x: Tensor  # time of the last purchase since the first (0 when x == 0)
    T: Tensor  # time observed since the first purchase

    def __post_init__(self) -> None:
        if not (self.x.shape == self.t_x.shape == self.T.shape):
            raise ValueError("Summary: x, t_x and T must have the same shape")
        if bool((self.x < 0).any() or (self.t_x < 0).any() or (self.t_x > self.T + 1e-9).any()):
            raise ValueError("Summary: need x >= 0 and 0 <= t_x <= T")

    def to(self, device: torch.device | str) -> Summary:
        return Summary(*(v.to(device=device, dtype=DTYPE) for v in (self.x, self.t_x, self.T)))

    def distinct(self) -> tuple[Summary, Tensor, Tensor]:
        """(the distinct summaries, how many customers share each, the row of each customer's):
        customers with the same (x, t_x, T) have the same likelihood and predictions, and a
        large shop has far fewer distinct summaries than customers (18k of 94k at 100k users)."""
        rows = torch.stack([self.x, self.t_x, self.T], dim=1)
        unique, inverse, counts = torch.unique(rows, dim=0, return_inverse=True, return_counts=True)
        return Summary(unique[:, 0], unique[:, 1], unique[:, 2]), counts.to(DTYPE), inverse


def hyp2f1(
    a: Tensor, b: Tensor, c: Tensor, z: Tensor, max_terms: int = 4000, chunk: int = 16
) -> Tensor:
    """Gauss's hypergeometric function 2F1(a, b; c; z) for 0 <= z < 1 and a, b, c > 0, by its
    series, term ratios accumulated in log space; stops once every element's last term is below
    1e-15 of its sum (at most ``max_terms``). Terms are taken ``chunk`` at a time (one tensor
    operation for each chunk, not for each term: near z = 1 the series needs thousands of terms,
    and a loop per term made an online update's CLV most of its time). Differentiable in all
    arguments."""
    a, b, c, z = torch.broadcast_tensors(*(v.to(DTYPE) for v in (a, b, c, z)))
    total = torch.ones_like(z)
    log_term = torch.zeros_like(z)
    log_z = torch.log(z.clamp(min=1e-300))[..., None]
    a, b, c = a[..., None], b[..., None], c[..., None]
    for start in range(0, max_terms, chunk):
        n = torch.arange(start, start + chunk, dtype=DTYPE, device=z.device)
        ratios = torch.log((a + n) * (b + n) / ((c + n) * (n + 1))) + log_z
        logs = log_term[..., None] + torch.cumsum(ratios, dim=-1)
        terms = torch.exp(logs)
        total = total + terms.sum(-1)
        log_term = logs[..., -1]
        if bool((terms[..., -1] <= 1e-15 * total).all()):
            break
    return torch.where(z > 0, total, torch.ones_like(total))


_LEGENDRE: dict[str, tuple[Tensor, Tensor]] = {}


def _legendre(device: torch.device, k: int = 64) -> tuple[Tensor, Tensor]:
    """Gauss-Legendre nodes on [-1, 1] and the logs of their weights (cached per device)."""
    key = f"{device}:{k}"
    if key not in _LEGENDRE:
        nodes, weights = np.polynomial.legendre.leggauss(k)
        _LEGENDRE[key] = (
            torch.tensor(nodes, dtype=DTYPE, device=device),
            torch.tensor(weights, dtype=DTYPE, device=device).log(),
        )
    return _LEGENDRE[key]


def per_customer(s: Summary, predict: Callable[[Summary], Tensor]) -> Tensor:
    """``predict`` on the distinct summaries of ``s``, spread back to every customer: the same
    figures, computed once per distinct (x, t_x, T)."""
    distinct, _, inverse = s.distinct()
    return predict(distinct)[inverse]


# --- BG/NBD -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BGNBD:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")

    def params(self) -> dict[str, float]:
        return asdict(self)

    @staticmethod
    def log_likelihood_of(p: Tensor, s: Summary) -> Tensor:
        """Per-customer log-likelihood; ``p`` = (r, alpha, a, b)."""
        r, alpha, a, b = p
        x, t_x, T = s.x, s.t_x, s.T
        a1 = torch.lgamma(r + x) - torch.lgamma(r) + r * torch.log(alpha)
        a2 = torch.lgamma(a + b) + torch.lgamma(b + x) - torch.lgamma(b) - torch.lgamma(a + b + x)
        a3 = -(r + x) * torch.log(alpha + T)
        # the "died after the last purchase" term exists only for repeat buyers
        a4 = (
            torch.log(a)
            - torch.log((b + x - 1).clamp(min=1e-12))
            - (r + x) * torch.log(alpha + t_x)
        )
        a4 = torch.where(x > 0, a4, torch.full_like(a4, -torch.inf))
        return a1 + a2 + torch.logaddexp(a3, a4)

    def probability_alive(self, s: Summary) -> Tensor:
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        x, t_x, T = s.x, s.t_x, s.T
        odds = a / (b + x - 1).clamp(min=1e-12) * ((alpha + T) / (alpha + t_x)) ** (r + x)
        return torch.where(x > 0, 1 / (1 + odds), torch.ones_like(odds))

    def expected_purchases(self, s: Summary, t: float) -> Tensor:
        """E[purchases in (T, T + t] | x, t_x, T] (their eq. 10)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        x, T = s.x, s.T
        tt = torch.as_tensor(t, dtype=DTYPE, device=x.device)
        hyp = hyp2f1(r + x, b + x, a + b + x - 1, tt / (alpha + T + tt))
        head = (a + b + x - 1) / (a - 1)
        body = 1 - ((alpha + T) / (alpha + T + tt)) ** (r + x) * hyp
        return head * body * self.probability_alive(s)

    def probability_quiet(self, s: Summary, t: float) -> Tensor:
        """P(no purchase in (T, T + t] | x, t_x, T): dead, or alive with no purchase yet."""
        alive = self.probability_alive(s)
        return 1 - alive + alive * ((self.alpha + s.T) / (self.alpha + s.T + t)) ** (self.r + s.x)

    def expected_purchases_new(self, t: Tensor) -> Tensor:
        """E[purchases in (0, t]] for a customer just acquired (their eq. 7); ``t`` may be a
        tensor of horizons."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        t = t.to(DTYPE)
        hyp = hyp2f1(torch.tensor(r), torch.tensor(b), torch.tensor(a + b - 1), t / (alpha + t))
        return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp)


# --- Pareto/NBD ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ParetoNBD:
    r: float
    alpha: float
    s: float
    beta: float
    log_likelihood: float = float("nan")

    def params(self) -> dict[str, float]:
        return asdict(self)

    @staticmethod
    def _log_parts(p: Tensor, s: Summary) -> tuple[Tensor, Tensor]:
        """(log of the "alive at T" term, log-likelihood), per customer.

        The "died in (t_x, T]" term is the integral over the death time tau of
        ``(alpha + tau)^-(r+x) (beta + tau)^-(s+1)``, which the papers write with 2F1; here it is
        integrated numerically (Gauss-Legendre in log(min(alpha, beta) + tau), where the
        integrand is smooth), which stays exact where the 2F1 series would crawl (argument near
        1, when alpha and beta differ by orders of magnitude)."""
        r, alpha, sh, beta = p
        x, t_x, T = s.x, s.t_x, s.T
        base = torch.lgamma(r + x) - torch.lgamma(r) + r * torch.log(alpha) + sh * torch.log(beta)
        alive = base - (r + x) * torch.log(alpha + T) - sh * torch.log(beta + T)
        window = t_x < T  # no death window when the last purchase is at the end
        m = torch.minimum(alpha, beta)
        v0 = torch.log(m + t_x)
        v1 = torch.log(m + torch.where(window, T, t_x + 1))
        nodes, log_weights = _legendre(x.device)
        v = v0[:, None] + (v1 - v0)[:, None] * (nodes + 1) / 2  # [N, K]
        tau = torch.exp(v) - m
        log_f = (
            -(r + x)[:, None] * torch.log(alpha + tau)
            - (sh + 1) * torch.log(beta + tau)
            + v
            + log_weights
        )
        integral = torch.logsumexp(log_f, dim=1) + torch.log((v1 - v0) / 2)
        died = base + torch.log(sh) + integral
        died = torch.where(window, died, torch.full_like(died, -torch.inf))
        return alive, torch.logaddexp(alive, died)

    @staticmethod
    def log_likelihood_of(p: Tensor, s: Summary) -> Tensor:
        return ParetoNBD._log_parts(p, s)[1]

    def _p(self, device: torch.device) -> Tensor:
        return torch.tensor([self.r, self.alpha, self.s, self.beta], dtype=DTYPE, device=device)

    def probability_alive(self, s: Summary) -> Tensor:
        alive, total = self._log_parts(self._p(s.x.device), s)
        return torch.exp(alive - total)

    def expected_purchases(self, s: Summary, t: float) -> Tensor:
        r, alpha, sh, beta = self.r, self.alpha, self.s, self.beta
        x, T = s.x, s.T
        rate = (r + x) * (beta + T) / ((alpha + T) * (sh - 1))
        return self.probability_alive(s) * rate * (1 - ((beta + T) / (beta + T + t)) ** (sh - 1))

    def expected_purchases_new(self, t: Tensor) -> Tensor:
        """E[purchases in (0, t]] for a customer just acquired."""
        r, alpha, sh, beta = self.r, self.alpha, self.s, self.beta
        t = t.to(DTYPE)
        return r * beta / (alpha * (sh - 1)) * (1 - (beta / (beta + t)) ** (sh - 1))


# --- Gamma-Gamma --------------------------------------------------------------------------


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    gamma: float
    log_likelihood: float = float("nan")

    def params(self) -> dict[str, float]:
        return asdict(self)

    @staticmethod
    def log_likelihood_of(params: Tensor, x: Tensor, m: Tensor) -> Tensor:
        """Per-customer log-likelihood of the mean value ``m`` of ``x`` > 0 transactions."""
        p, q, g = params
        px = p * x
        return (
            torch.lgamma(px + q)
            - torch.lgamma(px)
            - torch.lgamma(q)
            + q * torch.log(g)
            + (px - 1) * torch.log(m)
            + px * torch.log(x)
            - (px + q) * torch.log(g + m * x)
        )

    def expected_spend(self, x: Tensor, m: Tensor) -> Tensor:
        """E[value of a transaction | x, m]: the population mean for x == 0, shrunk toward the
        customer's own mean as x grows."""
        p, q, g = self.p, self.q, self.gamma
        population = p * g / (q - 1)
        own = p * (g + m * x) / (p * x + q - 1)
        return torch.where(x > 0, own, torch.full_like(own, population))


# --- fitting ------------------------------------------------------------------------------


LOG_BOUND = 12.0  # parameters stay within e^-12..e^12: a fit drifting to a boundary (no
# dropout, b -> inf) stops there instead of overflowing


def _bounded(log_p: Tensor) -> Tensor:
    return log_p.clamp(-LOG_BOUND, LOG_BOUND).exp()


def _maximise(
    loss_of: Callable[[Tensor], Tensor], start: list[float], device: torch.device
) -> tuple[Tensor, float]:
    """L-BFGS on log-parameters; returns (parameters, maximised total log-likelihood)."""
    log_p = torch.tensor(start, dtype=DTYPE, device=device).log().requires_grad_(True)
    optimiser = torch.optim.LBFGS(
        [log_p],
        lr=1,
        max_iter=500,
        tolerance_grad=1e-10,
        tolerance_change=1e-14,
        line_search_fn="strong_wolfe",
    )

    def closure() -> Tensor:
        optimiser.zero_grad()
        loss = loss_of(_bounded(log_p))
        loss.backward()
        return loss

    def value() -> float:
        with torch.no_grad():
            return float(loss_of(_bounded(log_p)))

    for _ in range(5):  # restarts until the value stops moving
        before = value()
        optimiser.step(closure)
        if abs(before - value()) < 1e-9:
            break
    with torch.no_grad():
        params, value = _bounded(log_p).detach(), -float(loss_of(_bounded(log_p)))
    if not (bool(torch.isfinite(params).all()) and math.isfinite(value)):
        raise RuntimeError(f"the likelihood did not converge (parameters {params.tolist()})")
    return params, value


def _weighted(s: Summary, weight: Tensor | None) -> tuple[Summary, Tensor]:
    """The distinct summaries and their counts (``weight`` None), or ``s`` with ``weight``."""
    if weight is None:
        s, weight, _ = s.distinct()
    return s.to(s.x.device), weight.to(DTYPE)


def fit_bgnbd(
    s: Summary, start: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0), weight: Tensor | None = None
) -> BGNBD:
    """Maximum likelihood over the customers of ``s`` (each counted ``weight`` times; by
    default fitted on the distinct summaries, weighted by how many customers share each)."""
    s, w = _weighted(s, weight)
    p, ll = _maximise(lambda q: -(w * BGNBD.log_likelihood_of(q, s)).sum(), list(start), s.x.device)
    return BGNBD(*(float(v) for v in p), log_likelihood=ll)


def fit_pareto_nbd(
    s: Summary, start: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0), weight: Tensor | None = None
) -> ParetoNBD:
    """As :func:`fit_bgnbd`, for the Pareto/NBD."""
    s, w = _weighted(s, weight)
    p, ll = _maximise(
        lambda q: -(w * ParetoNBD.log_likelihood_of(q, s)).sum(), list(start), s.x.device
    )
    return ParetoNBD(*(float(v) for v in p), log_likelihood=ll)


def fit_gamma_gamma(x: Tensor, m: Tensor, start: tuple[float, ...] = (1.0, 1.0, 1.0)) -> GammaGamma:
    """Fitted on the customers with ``x > 0`` and ``m > 0`` (the others carry no spend)."""
    keep = (x > 0) & (m > 0)
    x, m = x[keep].to(DTYPE), m[keep].to(DTYPE)
    p, ll = _maximise(lambda q: -GammaGamma.log_likelihood_of(q, x, m).sum(), list(start), x.device)
    return GammaGamma(*(float(v) for v in p), log_likelihood=ll)
