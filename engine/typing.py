"""Type aliases shared across engine/ (the torch_geometric.typing habit)."""

from __future__ import annotations

NodeType = str
EdgeType = tuple[str, str, str]
