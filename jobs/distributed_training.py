"""``torchrun --nproc-per-node N -m jobs.distributed_training SNAPSHOT``: LightGCN trained on a
snapshot file (``profilegraph export``'s) across the launched ranks, with the refresh's recipe
(``jobs.recipe.train_config`` from the settings); rank 0 saves the embedding."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.distributed as dist

from core.settings import Settings
from engine.evaluation.split import split_per_user
from engine.interactions import interaction_pairs, social_ties
from engine.models.distributed import train_distributed
from engine.snapshot import Snapshot
from jobs.recipe import train_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("snapshot", type=Path)
    parser.add_argument("--epochs", type=int, default=0, help="0: the refresh's")
    parser.add_argument("--out", type=Path, default=Path("out/distributed-embedding.pt"))
    args = parser.parse_args()
    settings = Settings()
    config = train_config(settings, args.epochs or None)
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    try:
        snapshot = Snapshot.load(args.snapshot)
        pairs = interaction_pairs(snapshot, min_rating=settings.training.min_rating)
        split = split_per_user(pairs[0], pairs[1], valid=0.1, test=0.0, seed=config.seed)
        result = train_distributed(
            split.train,
            split.valid,
            snapshot.num_nodes("user"),
            snapshot.num_nodes("item"),
            social=social_ties(snapshot),
            config=config,
        )
        if dist.get_rank() == 0:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            torch.save(result.model.embedding.weight.detach(), args.out)
            print(
                f"trained on {dist.get_world_size()} ranks ({backend}): "
                f"{result.messages_per_s:,.0f} messages/s, best epoch {result.best_epoch}"
            )
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
