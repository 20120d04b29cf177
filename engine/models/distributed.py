"""LightGCN trained across processes with torch.distributed (the row split: engine.models.sharding).

Each step every rank draws the same batch of BPR triples (one seeded generator) and scores its
``1/W`` share against the gathered final embeddings; the losses' gradients sum across ranks, so
the update is the one a single process would make on the whole batch, and Adam, being
element-wise, updates each block alone. Same seed, same loss curve and embeddings as
:func:`engine.models.train.train_lightgcn`, to floating-point summation order (tested with gloo).

Backends: NCCL on GPUs (one device per rank), gloo on CPU. Launch with ``torchrun`` (each rank
calls :func:`train_distributed`, see ``python -m jobs.distributed_training --help``) or
in-process with :func:`spawn` (what the test and the bench do). :func:`fit_lightgcn` is what a
refresh calls: one process, or ``config.ranks`` of them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from engine.device import pick_device
from engine.models.sharding import current_world
from engine.models.train import TrainConfig, TrainResult, train_lightgcn


def fit_lightgcn(
    train: Tensor,
    valid: Tensor,
    num_users: int,
    num_items: int,
    *,
    social: tuple[Tensor, Tensor] | None = None,
    config: TrainConfig = TrainConfig(),  # noqa: B008 (frozen, as train_lightgcn's)
    init: Tensor | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    on_estimate: Callable[[float], None] | None = None,
) -> TrainResult:
    """:func:`engine.models.train.train_lightgcn` in this process, or on ``config.ranks`` spawned
    processes (NCCL on GPUs, else gloo; no per-epoch callbacks across processes)."""
    if config.ranks > 1:
        backend = "nccl" if pick_device(config.device).type == "cuda" else "gloo"
        kwargs = {"social": social, "config": config, "init": init}
        return train_on_ranks(config.ranks, backend, train, valid, num_users, num_items, **kwargs)
    return train_lightgcn(
        train, valid, num_users, num_items, social=social, config=config, init=init,
        on_epoch=on_epoch, on_estimate=on_estimate,
    )  # fmt: skip


def train_distributed(
    train: Tensor,
    valid: Tensor,
    num_users: int,
    num_items: int,
    *,
    social: tuple[Tensor, Tensor] | None = None,
    config: TrainConfig | None = None,
    init: Tensor | None = None,
) -> TrainResult:
    """:func:`engine.models.train.train_lightgcn` on this rank of the initialised process group.

    Every rank passes the same arguments; every rank returns a TrainResult whose model is a
    plain LightGCN with the whole trained layer-0 embedding (gathered), on the CPU.
    """
    return train_lightgcn(
        train,
        valid,
        num_users,
        num_items,
        social=social,
        config=config or TrainConfig(),
        init=init,
        world=current_world(),
    )


def _rank_main(
    rank: int,
    world_size: int,
    backend: str,
    init_file: str,
    work: Callable[[], Any],
    out: Path,
) -> None:
    dist.init_process_group(
        backend, init_method=f"file://{init_file}", rank=rank, world_size=world_size
    )
    try:
        result = work()
        if rank == 0:
            torch.save(result, out)
    finally:
        dist.destroy_process_group()


def spawn(work: Callable[[], Any], world_size: int, backend: str = "gloo") -> Any:
    """Run ``work()`` on ``world_size`` new processes joined in one group; rank 0's result.

    ``work`` must be picklable (a module-level function or a ``functools.partial`` of one).
    """
    with tempfile.TemporaryDirectory(prefix="profilegraph-dist-") as tmp:
        out = Path(tmp) / "result.pt"
        torch.multiprocessing.spawn(
            _rank_main,
            args=(world_size, backend, str(Path(tmp) / "rendezvous"), work, out),
            nprocs=world_size,
            join=True,
        )
        return torch.load(out, weights_only=False)


def train_on_ranks(world_size: int, backend: str = "gloo", *args: Any, **kwargs: Any) -> Any:
    """:func:`train_distributed` on ``world_size`` spawned ranks (``args``/``kwargs`` as
    :func:`engine.models.train.train_lightgcn` takes them); rank 0's TrainResult."""
    return spawn(partial(train_distributed, *args, **kwargs), world_size, backend)
