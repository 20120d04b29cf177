"""Bayesian personalised ranking loss."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class BPRLoss(nn.Module):
    r"""BPR from `"BPR: Bayesian Personalized Ranking from Implicit Feedback"
    <https://arxiv.org/abs/1205.2618>`_, with L2 on the batch's layer-0 embeddings:

    .. math::
        \mathcal{L} = -\frac{1}{B}\sum \ln \sigma(\hat{y}_{ui} - \hat{y}_{uj})
        + \lambda \frac{1}{B} \lVert \mathbf{E}^{(0)}_{\text{batch}} \rVert^2 / 2

    Args:
        weight_decay (float, optional): :math:`\lambda`. (default: :obj:`1e-4`)
    """

    def __init__(self, weight_decay: float = 1e-4) -> None:
        super().__init__()
        self.weight_decay = weight_decay

    def forward(self, pos: Tensor, neg: Tensor, *params: Tensor) -> Tensor:
        loss = -F.logsigmoid(pos - neg).mean()
        if self.weight_decay and params:
            reg = sum(p.pow(2).sum() for p in params) / (2 * pos.numel())
            loss = loss + self.weight_decay * reg
        return loss

    def __repr__(self) -> str:
        return f"{type(self).__name__}(weight_decay={self.weight_decay})"
