"""A graph model that predicts influence (follower adoptions, see ``engine.dimensions.adoptions``).

The model predicts, from the graph as of time ``T`` only, each user's adoptions in the period
after ``T``: it is trained on the period before (features as of ``T - horizon``, targets in
``(T - horizon, T]``) and applied at ``T``. It is a two-layer GraphSAGE-style network over the
follow graph (a user's own features beside the mean of their followers' and of their
followers' followers'), with a Poisson loss on the counts, so it sees what centrality measures
miss: whether a user's followers actually copy them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from engine.dimensions.adoptions import influence_counts
from engine.graph_as_of import GraphAsOf
from engine.models.centrality import follower_count, pagerank
from engine.neighbours import NeighbourMean


def influence_features(graph: GraphAsOf, t: int, horizon_ms: int) -> Tensor:
    """What is known of each user at time ``t`` [U, 7], log scale. Counts are over the last
    ``horizon_ms`` (the same length the model predicts), so features taken at the training
    cut-off and at prediction time are on the same scale."""
    actions, follow_src, follow_dst = graph.actions, graph.follow_src, graph.follow_dst
    n_users, adopted = graph.n_users, graph.adoptions()
    recent = (actions.ts > t - horizon_ms) & (actions.ts <= t)
    activity = torch.bincount(actions.user[recent], minlength=n_users).to(torch.float32)
    activity_all = torch.bincount(actions.before(t).user, minlength=n_users).to(torch.float32)
    followers = follower_count(follow_dst, n_users).to(torch.float32)
    following = torch.bincount(follow_src, minlength=n_users).to(torch.float32)
    triggered = influence_counts(adopted, n_users, t - horizon_ms, t)
    triggered_all = influence_counts(adopted, n_users, -(2**62), t)
    rate = triggered_all / (followers * activity_all).clamp(min=1)
    rank = pagerank(follow_src, follow_dst, n_users).to(torch.float32) * n_users
    return torch.stack(
        [
            activity.log1p(),
            followers.log1p(),
            following.log1p(),
            triggered.log1p(),
            (rate * 100).log1p(),
            rank.log1p(),
            (rate * followers * activity).log1p(),
        ],
        dim=1,
    )


def sage_inputs(x: Tensor, mean_followers: NeighbourMean) -> Tensor:
    """Own features beside their mean over followers at one and two hops. The aggregation has no
    parameters, so it is computed once per fit, not once per epoch (two thirds of the fit's
    time at 100k users went there)."""
    hop1 = mean_followers @ x
    hop2 = mean_followers @ hop1
    return torch.cat([x, hop1, hop2], dim=1)


class InfluenceSAGE(nn.Module):
    """An MLP from :func:`sage_inputs` to a log-rate."""

    def __init__(self, in_dim: int, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim * 3, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 1),
        )

    def forward(self, inputs: Tensor) -> Tensor:
        return self.net(inputs).squeeze(1)


@dataclass
class InfluenceModel:
    model: InfluenceSAGE
    scale: Tensor  # feature standardisation
    shift: Tensor
    cap: float  # predictions stay below twice the largest count seen in training

    def predict(self, features: Tensor, follow_src: Tensor, follow_dst: Tensor) -> Tensor:
        mean = NeighbourMean.of(follow_src, follow_dst, features.size(0))
        with torch.no_grad():
            log_rate = self.model(sage_inputs((features - self.shift) / self.scale, mean))
        # a soft cap: bounded like a clamp, but order-preserving, so capped users do not tie
        log_cap = math.log(self.cap)
        return (log_cap - nn.functional.softplus(log_cap - log_rate)).exp()


def fit_influence(
    features: Tensor,
    target: Tensor,
    follow_src: Tensor,
    follow_dst: Tensor,
    *,
    epochs: int = 300,
    lr: float = 1e-2,
    weight_decay: float = 1e-2,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> InfluenceModel:
    """Weight decay 1e-2 (swept 1e-4..1e-1 on LastFM and synthetic data): adoption counts are
    small and noisy, and a lightly regularised network extrapolates wildly for unusual users.
    The full-batch epochs run on ``device``; the model comes back on the CPU."""
    torch.manual_seed(seed)
    shift, scale = features.mean(0), features.std(0).clamp(min=1e-6)
    inputs = sage_inputs(
        (features - shift) / scale, NeighbourMean.of(follow_src, follow_dst, features.size(0))
    ).to(device)
    target = target.to(device)
    model = InfluenceSAGE(features.size(1)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.PoissonNLLLoss(log_input=True)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), target)
        loss.backward()
        optimizer.step()
    cap = 2.0 * max(float(target.max()), 1.0)
    return InfluenceModel(model.cpu(), scale, shift, cap=cap)


def predict_influence(
    graph: GraphAsOf,
    *,
    at: int,
    horizon_ms: int,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> Tensor:
    """Expected adoptions each user triggers in ``(at, at + horizon_ms]``, learnt from the
    period ``(at - horizon_ms, at]`` with the features as of its start (fitted on
    ``device``)."""
    t0 = at - horizon_ms
    fit = fit_influence(
        influence_features(graph, t0, horizon_ms),
        influence_counts(graph.adoptions(), graph.n_users, t0, at),
        graph.follow_src,
        graph.follow_dst,
        seed=seed,
        device=device,
    )
    features = influence_features(graph, at, horizon_ms)
    return fit.predict(features, graph.follow_src, graph.follow_dst)
