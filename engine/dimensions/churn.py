"""Churn: will a user who was active lately do nothing over the next horizon?

A user is *at risk of churning* at time ``t`` when they acted in ``(t - H, t]``; they *churned*
when they then do nothing in ``(t, t + H]``. The probability is a logistic model on what is
known at ``t``, in two groups of features:

- **behaviour** (:data:`BEHAVIOUR`): recency, recent and lifetime activity, tenure, the usual
  gap between active days, and the repeat-purchase model's P(active), P(no activity over the
  horizon) and expected active days (BG/NBD fitted on the users' active days up to ``t``);
- **graph** (:data:`SOCIAL`): how many people the user follows, the share of them active in the
  last horizon, the share who churned in it (active the horizon before, silent in this one),
  their recent activity, the adoptions the user took from them lately, and the same activity
  shares among the user's followers.

It is trained the way it is used: features at ``t - H`` against what happened in
``(t - H, t]``, then applied at ``t``; so it never sees the future it predicts. Logistic
regression (L2, standardised inputs) is calibrated by construction on its training period; the
evaluation shows the reliability curve rather than assuming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import torch
from torch import Tensor

from engine.dimensions.adoptions import DAY_MS, Actions
from engine.dimensions.repeat_purchases import calibrate, occasions
from engine.evaluation.probability_metrics import auc
from engine.graph_as_of import GraphAsOf
from engine.models.btyd import BGNBD, fit_bgnbd, per_customer
from engine.neighbours import NeighbourMean

BEHAVIOUR = (
    "log_recency_days",
    "log_recent_active_days",
    "log_active_days",
    "log_tenure_days",
    "log_usual_gap_days",
    "bgnbd_p_active",
    "bgnbd_p_quiet",
    "log_bgnbd_expected",
)
SOCIAL = (
    "log_followees",
    "followees_active_share",
    "followees_churned_share",
    "log_followees_recent_activity",
    "log_adoptions_received",
    "followers_active_share",
)
PROPAGATED = tuple(f"followees_{name}" for name in BEHAVIOUR) + tuple(
    f"followees2_{name}" for name in BEHAVIOUR
)
EMBEDDING_DIM = 16
EMBEDDING = tuple(f"interaction_embedding_{k}" for k in range(EMBEDDING_DIM))


def _item_vectors(n_items: int, dim: int, seed: int, block: int = 1 << 16) -> Tensor:
    """[n_items, dim] a fixed random vector per item index, whatever ``n_items`` is (drawn in
    blocks of their own seeds, so an item's vector never depends on how many came after it)."""
    parts = [
        torch.randn(block, dim, generator=torch.Generator().manual_seed(seed * 1_000_003 + j))
        for j in range(-(-n_items // block))
    ]
    return torch.cat(parts)[:n_items]


def interaction_embedding(
    past: Actions, n_users: int, n_items: int, dim: int = EMBEDDING_DIM, seed: int = 0
) -> Tensor:
    """[U, dim] a graph embedding of each user from the user-item graph of ``past`` alone:
    LightGCN's propagation without its training (a fixed random vector per item, averaged to
    the users, back to the items and to the users again; the mean of the first and third hop),
    so it can be computed at any cut without seeing what came after it and without a training
    run per cut. The logistic layer on top learns what in it predicts churn."""
    if n_items == 0 or past.user.numel() == 0:
        return torch.zeros(n_users, dim, dtype=torch.float64)
    items = _item_vectors(n_items, dim, seed)
    pairs = torch.unique(past.user * n_items + past.item)
    user, item = pairs // n_items, n_users + pairs % n_items
    n = n_users + n_items
    to_users, to_items = NeighbourMean.of(item, user, n), NeighbourMean.of(user, item, n)
    x = torch.zeros(n, dim)
    x[n_users:] = items
    hop1 = to_users @ x
    hop3 = to_users @ (to_items @ hop1)
    return ((hop1 + hop3)[:n_users] / 2).double()


@dataclass(frozen=True)
class ChurnFeatures:
    values: Tensor  # [U, F] float64
    names: tuple[str, ...]
    at_risk: Tensor  # [U] bool: active in (t - H, t]
    bgnbd: dict[str, float] | None = None  # the BG/NBD parameters its columns came from


def _active_between(actions: Actions, n: int, lo: int, hi: int) -> Tensor:
    keep = (actions.ts > lo) & (actions.ts <= hi)
    return torch.bincount(actions.user[keep], minlength=n) > 0


def _share(edge_from: Tensor, edge_to: Tensor, flag: Tensor, n: int) -> Tensor:
    """For each ``edge_from`` node: the share of its ``edge_to`` neighbours with ``flag``."""
    total = torch.bincount(edge_from, minlength=n).to(torch.float64)
    hits = torch.zeros(n, dtype=torch.float64).index_add_(
        0, edge_from, flag[edge_to].to(torch.float64)
    )
    return torch.where(total > 0, hits / total.clamp(min=1), torch.zeros_like(total))


def churn_features(
    graph: GraphAsOf,
    *,
    at: int,
    horizon_ms: int,
    unit_days: float = 7.0,
    bgnbd: dict[str, float] | None = None,
) -> ChurnFeatures:
    """Features of every user from what is known at ``at`` (actions up to it; the follows are
    the caller's: pass only those known at ``at``). ``bgnbd``: the population's BG/NBD
    parameters (a full run's), evaluated instead of a fit on these users: an incremental run's
    few users and their neighbourhood are not the population."""
    actions, n_users, adopted = graph.actions, graph.n_users, graph.adopted
    follow_src, follow_dst = graph.follow_src, graph.follow_dst
    past = actions.before(at)
    day_at = at // DAY_MS
    o = occasions(past.user, past.ts)
    cal = calibrate(o, n_users, day_at, unit_days)
    s = cal.summary
    born = cal.born
    recency = torch.where(born, (s.T - s.t_x) * unit_days, torch.zeros_like(s.T))
    tenure = s.T * unit_days
    gap = torch.where(s.x > 0, s.t_x / s.x.clamp(min=1) * unit_days, tenure)
    p_active = torch.zeros(n_users, dtype=torch.float64)
    p_quiet = torch.ones(n_users, dtype=torch.float64)
    expected = torch.zeros(n_users, dtype=torch.float64)
    fitted_params: dict[str, float] | None = None
    if bgnbd is not None or int((s.x > 0).sum()) >= 10:
        sub = type(s)(s.x[born], s.t_x[born], s.T[born])
        ahead = horizon_ms / DAY_MS / unit_days
        try:
            model = BGNBD(**bgnbd) if bgnbd is not None else fit_bgnbd(sub)
            fitted_params = model.params()
            fitted = (
                per_customer(sub, model.probability_alive),
                per_customer(sub, partial(model.probability_quiet, t=ahead)),
                per_customer(sub, partial(model.expected_purchases, t=ahead)),
            )
        except (ValueError, RuntimeError):
            fitted = None
        # a fit at the edge of its parameter space (a -> 1, b -> inf) can give inf x 0: then
        # the model says nothing, and the other features carry the prediction
        if fitted is not None and all(bool(torch.isfinite(f).all()) for f in fitted):
            p_active[born], p_quiet[born], expected[born] = fitted
    recent_days = torch.zeros(n_users, dtype=torch.float64)
    recent = o.day > day_at - horizon_ms // DAY_MS
    recent_days.index_add_(0, o.user[recent], torch.ones(int(recent.sum()), dtype=torch.float64))
    behaviour = [
        recency.log1p(),
        recent_days.log1p(),
        cal.occasions.to(torch.float64).log1p(),
        tenure.log1p(),
        gap.log1p(),
        p_active,
        p_quiet,
        expected.log1p(),
    ]
    active_now = _active_between(actions, n_users, at - horizon_ms, at)
    active_before = _active_between(actions, n_users, at - 2 * horizon_ms, at - horizon_ms)
    churned = active_before & ~active_now
    followees = torch.bincount(follow_src, minlength=n_users).to(torch.float64)
    activity = torch.zeros(n_users, dtype=torch.float64).index_add_(
        0, follow_dst, recent_days[follow_dst]
    )
    mean_followee_activity = activity / followees.clamp(min=1)
    if adopted is not None and adopted.follower.numel():
        lately = (adopted.ts > at - horizon_ms) & (adopted.ts <= at)
        received = torch.bincount(adopted.follower[lately], minlength=n_users).to(torch.float64)
    else:
        received = torch.zeros(n_users, dtype=torch.float64)
    social = [
        followees.log1p(),
        _share(follow_src, follow_dst, active_now, n_users),
        _share(follow_src, follow_dst, churned, n_users),
        mean_followee_activity.log1p(),
        received.log1p(),
        _share(follow_dst, follow_src, active_now, n_users),
    ]
    own = torch.stack(behaviour, dim=1)
    # the graph's view of the neighbourhood: behaviour averaged over followees, one and two hops
    # (parameter-free propagation, the logistic layer on top learns the weights: SGC, Wu et al.
    # 2019, "Simplifying graph convolutional networks")
    mean = NeighbourMean.of(follow_dst, follow_src, n_users)
    hop1 = mean @ own.float()
    hop2 = mean @ hop1
    n_items = int(past.item.max()) + 1 if past.item.numel() else 0
    embedded = interaction_embedding(past, n_users, n_items)
    values = torch.cat(
        [own, torch.stack(social, dim=1), hop1.double(), hop2.double(), embedded], dim=1
    )
    return ChurnFeatures(
        values, BEHAVIOUR + SOCIAL + PROPAGATED + EMBEDDING, active_now, fitted_params
    )


def churned_after(actions: Actions, n_users: int, at: int, horizon_ms: int) -> Tensor:
    """[U] bool: no action in ``(at, at + horizon_ms]``."""
    return ~_active_between(actions, n_users, at, at + horizon_ms)


@dataclass
class ChurnModel:
    weight: Tensor  # [F]
    bias: Tensor
    shift: Tensor
    scale: Tensor
    columns: list[int]  # which feature columns it reads

    def predict(self, features: Tensor) -> Tensor:
        x = (features[:, self.columns] - self.shift) / self.scale
        return torch.sigmoid(x @ self.weight + self.bias)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists (JSON), for a model state an incremental run starts from."""
        return {
            "weight": self.weight.tolist(),
            "bias": float(self.bias),
            "shift": self.shift.tolist(),
            "scale": self.scale.tolist(),
            "columns": list(self.columns),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChurnModel:
        as_tensor = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
        return cls(
            as_tensor(data["weight"]),
            as_tensor(data["bias"]),
            as_tensor(data["shift"]),
            as_tensor(data["scale"]),
            list(data["columns"]),
        )


def fit_churn(
    features: Tensor, churned: Tensor, columns: list[int], l2: float = 1e-3
) -> ChurnModel:
    """Logistic regression by L-BFGS on standardised ``columns`` of ``features``."""
    x = features[:, columns].to(torch.float64)
    shift, scale = x.mean(0), x.std(0).clamp(min=1e-6)
    x = (x - shift) / scale
    y = churned.to(torch.float64)
    w = torch.zeros(x.size(1), dtype=torch.float64, requires_grad=True)
    rate = float(y.mean().clamp(1e-4, 1 - 1e-4))
    b = torch.tensor(torch.logit(torch.tensor(rate)).item(), dtype=torch.float64)
    b.requires_grad_(True)
    optimiser = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y)
        loss = loss + l2 * (w * w).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return ChurnModel(w.detach(), b.detach(), shift, scale, columns)


BEHAVIOUR_ONLY = list(range(len(BEHAVIOUR)))
WITH_GRAPH = list(range(len(BEHAVIOUR) + len(SOCIAL) + len(PROPAGATED)))
# Evaluated beside the others, not a candidate of choose_columns: on LastFM and on the
# synthetic shop it lowered the AUC (`python -m bench.value --snapshot out/lastfm-snapshot.pt`).
WITH_EMBEDDING = list(range(len(WITH_GRAPH) + len(EMBEDDING)))


@dataclass
class FeatureTimeline:
    """Churn features of the same users at several times, each time computed once (a BG/NBD
    fit is inside each). ``actions`` may end at the latest time asked for: the features at
    ``t`` read only what happened up to ``t``, and the outcomes of ``t`` the horizon after it."""

    graph: GraphAsOf
    horizon_ms: int
    bgnbd: dict[str, float] | None = None  # the population's (see churn_features)
    _seen: dict[int, ChurnFeatures] = field(default_factory=dict)

    def at(self, t: int) -> ChurnFeatures:
        if t not in self._seen:
            self._seen[t] = churn_features(
                self.graph, at=t, horizon_ms=self.horizon_ms, bgnbd=self.bgnbd
            )
        return self._seen[t]

    def outcomes(self, t: int) -> Tensor:
        """Churned-or-not of the users at risk at ``t``."""
        churned = churned_after(self.graph.actions, self.graph.n_users, t, self.horizon_ms)
        return churned[self.at(t).at_risk]


def _learnable(label: Tensor) -> bool:
    return label.numel() >= 10 and bool(label.any()) and not bool(label.all())


def choose_columns(timeline: FeatureTimeline, at: int) -> tuple[list[int], dict[str, float]]:
    """Behaviour alone, or behaviour and the graph: the graph only where it has the higher AUC
    one horizon earlier (trained on the horizon before that). Where that cannot be checked (too
    little history) or the two tie, the simpler model, behaviour alone, is used."""
    early, late = at - 2 * timeline.horizon_ms, at - timeline.horizon_ms
    train, test = timeline.outcomes(early), timeline.outcomes(late)
    if not (_learnable(train) and _learnable(test)):
        return BEHAVIOUR_ONLY, {}
    fit_on, score_on = timeline.at(early), timeline.at(late)
    scores = {}
    for name, columns in (("behaviour", BEHAVIOUR_ONLY), ("behaviour+graph", WITH_GRAPH)):
        model = fit_churn(fit_on.values[fit_on.at_risk], train, columns)
        scores[name] = auc(model.predict(score_on.values)[score_on.at_risk], test)
    best = WITH_GRAPH if scores["behaviour+graph"] > scores["behaviour"] else BEHAVIOUR_ONLY
    return best, scores


def predict_churn(
    graph: GraphAsOf,
    *,
    at: int,
    horizon_ms: int,
    social: bool | None = None,
    embedding: bool = False,
    model: ChurnModel | None = None,
    timeline: FeatureTimeline | None = None,
    bgnbd: dict[str, float] | None = None,
) -> tuple[Tensor, ChurnFeatures, ChurnModel | None]:
    """Churn probability over ``(at, at + horizon_ms]`` for every user (meaningful for the
    at-risk ones), learnt on the period before; None as the model when that period has no
    at-risk users or no churn variety (then the probability is the base rate, or 0.5).
    ``social``: use the graph features (True; with ``embedding`` the interaction embedding
    too), not (False), or as validation says (None).
    ``model``: one learnt before (a full run's), applied as it is, with ``bgnbd`` the full
    run's BG/NBD parameters behind its features. ``timeline``: features already computed for
    these actions (up to ``at``), follows and adoptions."""
    if timeline is None:
        timeline = FeatureTimeline(
            replace(graph, actions=graph.actions.before(at)), horizon_ms, bgnbd
        )
    n_users = graph.n_users
    now = timeline.at(at)
    if model is not None:
        return model.predict(now.values), now, model
    train_at = at - horizon_ms
    before, label = timeline.at(train_at), timeline.outcomes(train_at)
    if not _learnable(label):
        rate = float(label.float().mean()) if label.numel() else 0.5
        return torch.full((n_users,), rate, dtype=torch.float64), now, None
    if social is None:
        columns, _ = choose_columns(timeline, at)
    else:
        columns = (WITH_EMBEDDING if embedding else WITH_GRAPH) if social else BEHAVIOUR_ONLY
    model = fit_churn(before.values[before.at_risk], label, columns)
    return model.predict(now.values), now, model
