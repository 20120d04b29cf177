"""Train LightGCN with BPR, early-stopped on validation Recall@k.

Full-batch propagation every step (the graph fits in memory): one step propagates the whole
adjacency, scores one batch of (user, positive, negative) triples and updates. Throughput is
reported as edge-messages per second: nnz(adjacency) x layers per step over the step time (the
definition the published comparison uses; the backward pass is inside the step time).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.distributed as dist
from torch import Tensor

from engine.device import pick_device
from engine.evaluation.metrics import rank_metrics
from engine.models.adjacency import normalized_adjacency
from engine.models.lightgcn import LightGCN
from engine.models.losses import BPRLoss
from engine.models.schedule import Schedule
from engine.models.sharding import RowBlocks, ShardedLightGCN, World, row_block


@dataclass(frozen=True)
class TrainConfig(Schedule):
    """LightGCN's schedule and shape. The defaults are the refresh's (core.settings, via
    jobs.recipe; tests/jobs/test_recipe.py keeps them equal): an entry point that builds its
    own config trains the same recipe."""

    embedding_dim: int = 64
    num_layers: int = 3
    lr: float = 5e-3
    batch_size: int = 2048
    # Every step propagates the whole graph, so an epoch costs steps x propagation: past this
    # many steps the batch grows instead (1M users: 128 steps of ~200k triples, not 12k of 2k).
    max_steps_per_epoch: int = 128
    negatives: int = 1  # negatives per positive (BPR averaged over them)
    # Each negative is the best-scored of this many uniform draws (dynamic negative sampling,
    # Zhang et al., SIGIR 2013): hard negatives carry the gradient once easy ones score low.
    negative_candidates: int = 64
    weight_decay: float = 1e-3
    max_epochs: int = 60
    patience: int = 20
    # a warm-started run (``init``: the previous run's embeddings) begins near its optimum: it
    # stops sooner (bench.warm_start replays both rules on the same runs)
    warm_patience: int = 5
    eval_every: int = 5
    k: int = 10
    # a large catalogue on a CPU ends in bounded time instead of hours
    time_budget_s: float | None = 1800.0
    # Processes training together (engine.models.distributed): the adjacency split by rows, one GPU
    # each under NCCL, CPU processes under gloo. Per-epoch callbacks are not called then.
    ranks: int = 1

    COUNTS: ClassVar[tuple[str, ...]] = (
        "embedding_dim",
        "batch_size",
        "max_steps_per_epoch",
        "negatives",
        "negative_candidates",
        "warm_patience",
        "eval_every",
        "k",
        "ranks",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_layers < 0:
            raise ValueError(f"TrainConfig.num_layers must be >= 0, got {self.num_layers}")


@dataclass
class TrainResult:
    model: LightGCN
    adjacency: Tensor
    best_epoch: int
    best_valid: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    messages_per_s: float = 0.0
    batch_size: int = 0  # as trained: config.batch_size, or larger (max_steps_per_epoch)
    steps_per_epoch: int = 0


def train_lightgcn(
    train: Tensor,
    valid: Tensor,
    num_users: int,
    num_items: int,
    *,
    social: tuple[Tensor, Tensor] | None = None,
    config: TrainConfig = TrainConfig(),
    init: Tensor | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    on_estimate: Callable[[float], None] | None = None,
    world: World | None = None,
) -> TrainResult:
    """Train on ``train`` pairs [2, E]; keep the parameters of the best validation epoch.

    ``init`` [U + I, F] starts from known embeddings (a warm start, which stops after
    ``config.warm_patience`` epochs without a better validation score; fine-tuning); with an
    empty ``valid``
    there is nothing to stop on, so all ``max_epochs`` run and the last parameters are kept.
    ``on_estimate`` hears, once the first step is timed, the most seconds training will take
    (every epoch at that pace, within the time budget; early stopping may end it sooner).

    ``world``: this process is one rank of a torch.distributed group (``engine.models.sharding``);
    it holds its row block of the adjacency and of the embedding, scores its share of each
    batch, and returns the whole trained model like a single process would.
    """
    if config.ranks > 1 and world is None:
        raise ValueError(
            f"ranks={config.ranks}: train across processes with"
            " engine.models.distributed.fit_lightgcn"
        )
    torch.manual_seed(config.seed)
    device = world.device if world is not None else pick_device(config.device)
    # Batches are drawn on the training device: a host-side draw and copy per step costs more
    # than the step itself on a small graph on a GPU.
    generator = torch.Generator(device=device).manual_seed(config.seed)
    full_adj = normalized_adjacency(
        train[0], train[1], num_users, num_items, social, device="cpu" if world else device
    )
    full = LightGCN(num_users, num_items, config.embedding_dim, config.num_layers)
    if init is not None:
        full.embedding.weight.data.copy_(init)
    model: LightGCN | ShardedLightGCN = full
    adj: Tensor | tuple[Tensor, Tensor] = full_adj
    if world is not None:
        blocks = RowBlocks(num_users + num_items, world.size)
        block, transpose = row_block(full_adj, blocks, world.rank)
        adj = (block.to(device), transpose.to(device))
        model = ShardedLightGCN(
            num_users,
            num_items,
            blocks,
            world.rank,
            config.embedding_dim,
            config.num_layers,
            init=full.embedding.weight.data,
        )
    model = model.to(device)
    loss_fn = BPRLoss(config.weight_decay)
    optimizer = make_optimizer(model, config.lr)
    pairs = train.to(device)
    n = pairs.size(1)
    batch_size = max(config.batch_size, -(-n // config.max_steps_per_epoch))
    steps = max(1, n // batch_size)
    messages_per_step = full_adj.values().numel() * config.num_layers
    share = world.share(batch_size) if world is not None else None

    best: dict[str, float] = {}
    best_state: dict[str, Tensor] = {}
    best_epoch, since_best = -1, 0
    patience = config.warm_patience if init is not None else config.patience
    history: list[dict[str, float]] = []
    train_seconds = 0.0
    evaluating = valid.numel() > 0
    started = time.perf_counter()
    for epoch in range(config.max_epochs):
        model.train()
        tic = time.perf_counter()
        total = torch.zeros((), device=device)
        for step in range(steps):
            users, pos, neg = sample_triples(
                pairs,
                num_items,
                batch_size,
                generator,
                negatives=config.negatives,
                candidates=config.negative_candidates,
            )
            total += bpr_step(model, adj, optimizer, loss_fn, users, pos, neg, share=share)
            if epoch == 0 and step == 0 and on_estimate is not None:
                float(total)  # waits for the device, so the time is the step's real cost
                on_estimate(_estimate(time.perf_counter() - tic, steps, config))
        if world is not None:  # each rank's loss is its share's
            dist.all_reduce(total)
        record = {"epoch": float(epoch), "loss": float(total) / steps}  # float() syncs
        train_seconds += time.perf_counter() - tic
        if evaluating and (epoch % config.eval_every == 0 or epoch == config.max_epochs - 1):
            metrics = held_out_metrics(
                model, adj, valid, [train], k=config.k, max_users=config.valid_users
            )
            record.update({f"valid_{key}": value for key, value in metrics.items()})
            if not best or metrics[f"recall@{config.k}"] > best[f"recall@{config.k}"]:
                best, best_epoch, since_best = metrics, epoch, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                since_best += config.eval_every
        elapsed = time.perf_counter() - started
        record["eta_s"] = _eta(elapsed, epoch + 1, config)
        over_budget = config.time_budget_s is not None and elapsed >= config.time_budget_s
        if world is not None:  # ranks stop together: any rank over budget stops them all
            flag = torch.tensor([float(over_budget)], device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            over_budget = bool(flag.item())
        if over_budget:
            record["stopped_by_budget"] = 1.0
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if since_best >= patience or over_budget:
            break
    if best_state:
        model.load_state_dict(best_state)
    if isinstance(model, ShardedLightGCN):  # every rank ends with the whole model
        full.embedding.weight.data.copy_(model.full_weight().cpu())
        model, adj = full, full_adj
    total_steps = max(1, len(history) * steps)
    return TrainResult(
        model=model,
        adjacency=adj,
        best_epoch=best_epoch,
        best_valid=best,
        history=history,
        seconds=time.perf_counter() - started,
        messages_per_s=messages_per_step * total_steps / max(train_seconds, 1e-9),
        batch_size=batch_size,
        steps_per_epoch=steps,
    )


def _estimate(first_step_s: float, steps: int, config: TrainConfig) -> float:
    """The most seconds training takes at the first step's pace."""
    most = first_step_s * steps * config.max_epochs
    return most if config.time_budget_s is None else min(most, config.time_budget_s)


def _eta(elapsed: float, epochs_done: int, config: TrainConfig) -> float:
    """Seconds left at the current pace, within the time budget (early stopping may end it
    sooner)."""
    left = elapsed / epochs_done * (config.max_epochs - epochs_done)
    if config.time_budget_s is not None:
        left = min(left, max(0.0, config.time_budget_s - elapsed))
    return left


def make_optimizer(model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    """Adam; the fused CUDA kernel on a GPU (one launch for all parameters)."""
    on_cuda = next(model.parameters()).is_cuda
    return torch.optim.Adam(model.parameters(), lr=lr, fused=on_cuda or None)


def sample_triples(
    pairs: Tensor,
    num_items: int,
    batch_size: int,
    generator: torch.Generator,
    *,
    negatives: int = 1,
    candidates: int = 1,
) -> tuple[Tensor, Tensor, Tensor]:
    """(user, positive, negative): observed pairs drawn with replacement, ``negatives`` uniform
    negative items each (each pair repeated once per negative; a negative that happens to be
    observed is rare enough to leave in). With ``candidates`` > 1 the negatives come as a
    [batch * negatives, candidates] draw for :func:`bpr_step` to pick the hardest of."""
    device = pairs.device
    pick = torch.randint(0, pairs.size(1), (batch_size,), generator=generator, device=device)
    neg = torch.randint(
        0, num_items, (batch_size * negatives, candidates), generator=generator, device=device
    )
    neg = neg.squeeze(1) if candidates == 1 else neg
    if negatives == 1:
        return pairs[0, pick], pairs[1, pick], neg
    return (
        pairs[0, pick].repeat_interleave(negatives),
        pairs[1, pick].repeat_interleave(negatives),
        neg,
    )


def bpr_step(
    model: LightGCN | ShardedLightGCN,
    adj: Tensor | tuple[Tensor, Tensor],
    optimizer: torch.optim.Optimizer,
    loss_fn: BPRLoss,
    users: Tensor,
    pos: Tensor,
    neg: Tensor,
    *,
    share: slice | None = None,
) -> Tensor:
    """One optimisation step on a batch of (user, positive item, negative item) triples.

    ``neg`` [B, M] holds M candidates per triple: the one the model scores highest right now is
    the negative (chosen without gradient, from the same propagated embeddings).
    ``share``: this rank scores only these triples of the batch, its loss weighted by its
    share, so the gradients summed over ranks are the whole batch's.
    """
    user_emb, item_emb = model.split(model.get_embedding(adj))
    weight = 1.0
    if share is not None:
        batch = users.numel()
        users, pos, neg = users[share], pos[share], neg[share]
        weight = users.numel() / batch
    batch_users = user_emb[users]  # gathered once: the scores below and the hard-negative pick
    if neg.dim() == 2:
        neg = hardest_negatives(batch_users, item_emb, neg)
    pos_scores = (batch_users * item_emb[pos]).sum(-1)
    neg_scores = (batch_users * item_emb[neg]).sum(-1)
    layer0 = model.ego_embedding()
    n_users = model.num_users
    loss = weight * loss_fn(
        pos_scores, neg_scores, layer0[users], layer0[n_users + pos], layer0[n_users + neg]
    )
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


NEGATIVE_CHUNK = 16_384  # triples whose candidates are scored at once


@torch.no_grad()
def hardest_negatives(
    users: Tensor, item_emb: Tensor, candidates: Tensor, chunk: int = NEGATIVE_CHUNK
) -> Tensor:
    """Per triple, the candidate item the model scores highest for its user (``users`` [B, D]
    embeddings, ``candidates`` [B, M] items). In chunks of triples: at a million users a step
    holds ~170k triples x 64 candidates, and their embeddings at once would be ~2.8 GB."""
    picked = [
        c.gather(1, torch.einsum("bd,bmd->bm", u, item_emb[c]).argmax(1, keepdim=True))
        for u, c in zip(users.split(chunk), candidates.split(chunk), strict=True)
    ]
    return torch.cat(picked).squeeze(1) if picked else candidates[:, 0]


@torch.no_grad()
def held_out_metrics(
    model: LightGCN | ShardedLightGCN,
    adj: Tensor | tuple[Tensor, Tensor],
    target: Tensor,
    exclude: list[Tensor],
    *,
    k: int = 10,
    max_users: int | None = None,
) -> dict[str, float]:
    model.eval()
    user_emb, item_emb = model.split(model.get_embedding(adj))
    return rank_metrics(user_emb, item_emb, target, exclude, k=k, max_users=max_users)
