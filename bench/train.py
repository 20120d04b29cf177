"""Training-step throughput in edge-messages per second, ours beside two baselines.

    python -m bench.train                      # synthetic 10k and 100k users, CPU or GPU
    python -m bench.train --sizes 1000000 --batch 1000000   # the GPU-sized case

messages per step = nnz(adjacency) x layers (the backward pass is inside the step time).
Compared on the same adjacency and batch:
- ``ours``: engine.models.train.bpr_step (CSR SpMM with the symmetric custom backward);
- ``plain_csr``: the same model with ``torch.sparse.mm`` and autograd's own backward;
- ``pyg_lgconv``: torch_geometric's LGConv on ``edge_index`` (skipped if PyG is missing).
Prints a table and writes out/bench/train.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from bench.common import report
from engine.device import pick_device
from engine.models.adjacency import normalized_adjacency
from engine.models.lightgcn import LightGCN
from engine.models.losses import BPRLoss
from engine.models.train import bpr_step, make_optimizer, sample_triples
from graph.datasets.synthetic import SyntheticConfig, generate


class _PlainCSR(LightGCN):
    def get_embedding(self, adj: torch.Tensor) -> torch.Tensor:
        x = self.embedding.weight
        out = x * self.alpha[0]
        for layer in range(self.num_layers):
            x = torch.sparse.mm(adj, x)
            out = out + x * self.alpha[layer + 1]
        return out


class _PyG(LightGCN):
    def __init__(self, *args: Any, edge_index: torch.Tensor, weight: torch.Tensor) -> None:
        from torch_geometric.nn import LGConv

        super().__init__(*args)
        self.conv = LGConv(normalize=False)
        self.edge_index, self.edge_weight = edge_index, weight

    def get_embedding(self, adj: torch.Tensor) -> torch.Tensor:
        x = self.embedding.weight
        out = x * self.alpha[0]
        for layer in range(self.num_layers):
            x = self.conv(x, self.edge_index, self.edge_weight)
            out = out + x * self.alpha[layer + 1]
        return out


def _time(
    model: LightGCN, adj: torch.Tensor, batch: int, steps: int, device: torch.device
) -> float:
    optimizer = make_optimizer(model, 1e-3)
    loss_fn = BPRLoss()
    g = torch.Generator(device=device).manual_seed(0)
    n_users, n_items = model.num_users, model.num_items
    pairs = torch.stack(
        [
            torch.randint(0, n_users, (batch * 4,), generator=g, device=device),
            torch.randint(0, n_items, (batch * 4,), generator=g, device=device),
        ]
    )

    def one() -> None:
        users, pos, neg = sample_triples(pairs, n_items, batch, g)
        bpr_step(model, adj, optimizer, loss_fn, users, pos, neg)

    one()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        one()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / steps


def run_size(n_users: int, batch: int, steps: int, device: torch.device) -> dict[str, Any]:
    data = generate(SyntheticConfig(n_users=n_users, n_items=max(100, n_users // 5), seed=3))
    n_items = data.config.n_items
    social = (torch.from_numpy(data.follow_src), torch.from_numpy(data.follow_dst))
    adj = normalized_adjacency(
        torch.from_numpy(data.user),
        torch.from_numpy(data.item),
        n_users,
        n_items,
        social=social,
        device=device,
    )
    nnz = adj.values().numel()
    messages = nnz * 3
    row: dict[str, Any] = {"users": n_users, "nnz": nnz, "batch": batch, "device": device.type}
    torch.manual_seed(0)
    for name, model in (
        ("ours", LightGCN(n_users, n_items)),
        ("plain_csr", _PlainCSR(n_users, n_items)),
    ):
        seconds = _time(model.to(device), adj, batch, steps, device)
        row[f"{name}_step_s"] = seconds
        row[f"{name}_msgs_per_s"] = messages / seconds
    try:
        coo = adj.to_sparse_coo()
        pyg = _PyG(n_users, n_items, edge_index=coo.indices(), weight=coo.values()).to(device)
        seconds = _time(pyg, adj, batch, steps, device)
        row["pyg_lgconv_step_s"] = seconds
        row["pyg_lgconv_msgs_per_s"] = messages / seconds
    except ImportError:
        row["pyg_lgconv_msgs_per_s"] = None
    row["ours_vs_plain"] = row["ours_msgs_per_s"] / row["plain_csr_msgs_per_s"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--batch", type=int, default=2048)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path("out/bench/train.json"))
    args = parser.parse_args()
    device = pick_device(args.device)
    rows = [run_size(n, args.batch, args.steps, device) for n in args.sizes]
    report(
        "LightGCN training step (synthetic; columns = users)",
        rows,
        args.out,
        [
            "device",
            "nnz",
            "batch",
            "ours_step_s",
            "ours_msgs_per_s",
            "plain_csr_msgs_per_s",
            "pyg_lgconv_msgs_per_s",
            "ours_vs_plain",
        ],
    )


if __name__ == "__main__":
    main()
