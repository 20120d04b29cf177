"""A frozen, self-contained copy of (part of) the graph, as tensors.

``graph.export`` builds it from Neo4j; everything in ``engine`` reads only this. It saves to one
file (``torch.save`` of plain tensors, lists and dicts; loaded with ``weights_only=True``), so
training can run on another machine that has only the file.

Node indices are contiguous per node type; ``node_ids[type][i]`` is the external id of node
``i``. Edge sets are COO (``src``, ``dst``) with per-edge weight, count and timestamp (epoch
ms, ``-1`` when unknown). Edge types are ``(src_type, relation, dst_type)`` triples, e.g.
``("user", "LISTENED", "item")``; ``TAGGED`` edges also carry the category index per edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from engine.typing import EdgeType, NodeType

FORMAT_VERSION = 1


@dataclass
class EdgeSet:
    src: Tensor
    dst: Tensor
    weight: Tensor
    ts: Tensor
    count: Tensor
    category: Tensor | None = None

    def __len__(self) -> int:
        return int(self.src.numel())

    def to_dict(self) -> dict[str, Tensor]:
        out = {k: getattr(self, k) for k in ("src", "dst", "weight", "ts", "count")}
        if self.category is not None:
            out["category"] = self.category
        return out


@dataclass
class Snapshot:
    """Nodes, edges and the ingest watermark the export was taken at."""

    node_ids: dict[NodeType, list[str]]
    edges: dict[EdgeType, EdgeSet]
    watermark: int
    taken_at: float
    selection: dict[str, Any]
    # Per node type: boolean masks / numeric features (e.g. user "seed": the users the
    # selection asked for, as opposed to neighbours exported as context).
    node_features: dict[NodeType, dict[str, Tensor]] = field(default_factory=dict)

    def num_nodes(self, node_type: NodeType) -> int:
        return len(self.node_ids.get(node_type, []))

    def num_edges(self) -> int:
        return sum(len(e) for e in self.edges.values())

    def index_of(self, node_type: NodeType) -> dict[str, int]:
        return {node_id: i for i, node_id in enumerate(self.node_ids[node_type])}

    def validate(self) -> None:
        """Raise ValueError naming the edge type, what was expected and what was found."""
        for (src_type, rel, dst_type), edges in self.edges.items():
            n = len(edges)
            for name, tensor in edges.to_dict().items():
                if tensor.dim() != 1 or tensor.numel() != n:
                    raise ValueError(
                        f"edge type {(src_type, rel, dst_type)}: '{name}' must be 1-d with {n} "
                        f"entries (found shape {tuple(tensor.shape)})"
                    )
            for end, node_type, ids in (("src", src_type, edges.src), ("dst", dst_type, edges.dst)):
                bound = self.num_nodes(node_type)
                if n and (int(ids.min()) < 0 or int(ids.max()) >= bound):
                    raise ValueError(
                        f"edge type {(src_type, rel, dst_type)}: '{end}' indices must lie in "
                        f"[0, {bound}) (found [{int(ids.min())}, {int(ids.max())}])"
                    )

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(
            {
                "format_version": FORMAT_VERSION,
                "node_ids": self.node_ids,
                "edges": {"|".join(k): v.to_dict() for k, v in self.edges.items()},
                "watermark": self.watermark,
                "taken_at": self.taken_at,
                "selection": self.selection,
                "node_features": self.node_features,
            },
            tmp,
        )
        tmp.replace(path)  # a reader never sees a half-written snapshot
        return path

    @classmethod
    def load(cls, path: Path) -> Snapshot:
        data = torch.load(path, weights_only=True)
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{path}: snapshot format {FORMAT_VERSION} expected "
                f"(found {data.get('format_version')})"
            )
        edges = {tuple(k.split("|")): EdgeSet(**v) for k, v in data["edges"].items()}
        return cls(
            node_ids=data["node_ids"],
            edges=edges,  # type: ignore[arg-type]
            watermark=data["watermark"],
            taken_at=data["taken_at"],
            selection=data["selection"],
            node_features=data["node_features"],
        )

    def __repr__(self) -> str:
        nodes = ", ".join(f"{t}={len(ids)}" for t, ids in self.node_ids.items())
        edges = ", ".join(f"{r}={len(e)}" for (_, r, _), e in self.edges.items())
        return f"Snapshot({nodes}; {edges}; watermark={self.watermark})"
