"""Segments: k-means (seeded k-means++ start) on what a segment should mean, the number of
segments chosen by silhouette, and labels by lift over the population."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def kmeans(x: Tensor, k: int, *, iterations: int = 50, seed: int = 0) -> tuple[Tensor, Tensor]:
    """(cluster index per row [N], centres [k, F]); deterministic under ``seed``."""
    x = F.normalize(x.float(), dim=1)
    k = max(1, min(k, x.size(0)))
    g = torch.Generator().manual_seed(seed)
    centres = x[torch.randint(0, x.size(0), (1,), generator=g)]
    while centres.size(0) < k:  # k-means++: far points are likelier starts
        d2 = torch.cdist(x, centres).min(1).values.pow(2)
        pick = torch.multinomial(d2 + 1e-12, 1, generator=g) if d2.sum() > 0 else torch.zeros(1)
        centres = torch.cat([centres, x[pick.long()]])
    labels = torch.zeros(x.size(0), dtype=torch.long)
    for _ in range(iterations):
        new = torch.cdist(x, centres).argmin(1)
        if torch.equal(new, labels) and _ > 0:
            break
        labels = new
        sums = torch.zeros_like(centres).index_add_(0, labels, x)
        counts = torch.bincount(labels, minlength=k)[:, None]
        centres = torch.where(counts > 0, sums / counts.clamp(min=1), centres)
    return labels, centres


def assign(x: Tensor, centres: Tensor) -> Tensor:
    """Nearest of fixed centres: an incremental refresh keeps the full run's segments."""
    return torch.cdist(F.normalize(x.float(), dim=1), centres).argmin(1)


def interest_features(p: Tensor) -> Tensor:
    """Segment space: the square root of each interest distribution (Hellinger geometry), so
    Euclidean distance compares distributions and every row already has unit length."""
    return p.clamp(min=0).sqrt()


def silhouette(x: Tensor, labels: Tensor, *, sample: int = 2_000, seed: int = 0) -> float:
    """Mean silhouette of a random sample of rows (1: tight, separate segments; 0: overlap)."""
    g = torch.Generator().manual_seed(seed)
    rows = torch.randperm(x.size(0), generator=g)[:sample]
    xs, ls = x[rows].float(), labels[rows]
    k = int(labels.max()) + 1 if labels.numel() else 0
    if k < 2 or xs.size(0) < 3:
        return 0.0
    d = torch.cdist(xs, xs)
    members = torch.nn.functional.one_hot(ls, k).float()  # [n, k]
    counts = members.sum(0)
    mean_to = d @ members / counts.clamp(min=1)  # [n, k] mean distance to each segment
    own_count = counts[ls]
    a = mean_to.gather(1, ls[:, None])[:, 0] * own_count / (own_count - 1).clamp(min=1)
    mean_to[torch.arange(xs.size(0)), ls] = float("inf")
    mean_to[:, counts == 0] = float("inf")
    b = mean_to.min(1).values
    s = (b - a) / torch.maximum(a, b).clamp(min=1e-12)
    s = torch.where(own_count > 1, s, torch.zeros_like(s))  # a singleton's silhouette is 0
    return float(s.mean())


def choose_segments(
    x: Tensor, candidates: tuple[int, ...], *, seed: int = 0
) -> tuple[Tensor, Tensor, dict[int, float]]:
    """k-means for each candidate k; the k with the best silhouette wins. Returns its labels,
    its centres and every candidate's silhouette (for the report)."""
    scores: dict[int, float] = {}
    best: tuple[float, Tensor, Tensor] | None = None
    for k in sorted({max(1, min(k, x.size(0))) for k in candidates}):
        labels, centres = kmeans(x, k, seed=seed)
        scores[k] = silhouette(x, labels, seed=seed)
        if best is None or scores[k] > best[0] + 1e-9:
            best = (scores[k], labels, centres)
    assert best is not None
    return best[1], best[2], scores


def lift_labels(
    segment: Tensor, p: Tensor, names: list[str], *, terms: int = 3, min_share: float = 0.02
) -> tuple[dict[int, str], dict[int, list[tuple[str, float, float]]]]:
    """A label per segment from what distinguishes it from the population: the categories with
    the highest lift (segment mean / population mean) among those holding at least
    ``min_share`` of the segment's interest. No two labels are the same (a clash takes the
    next distinguishing category). Also returns (category, share, lift) per label term."""
    population = p.mean(0).clamp(min=1e-12)
    labels: dict[int, str] = {}
    terms_of: dict[int, list[tuple[str, float, float]]] = {}
    used: set[str] = set()
    for s in sorted(set(segment.tolist())):
        share = p[segment == s].mean(0)
        lift = share / population
        eligible = share >= min(min_share, float(share.max()))
        ranked = torch.argsort(torch.where(eligible, lift, -lift.new_ones(())), descending=True)
        order = [i for i in ranked.tolist() if bool(eligible[i])]
        chosen = order[:terms]
        label = " · ".join(names[i] for i in chosen) or f"segment {s}"
        extra = terms
        while label in used and extra < len(order):
            chosen = [*order[: terms - 1], order[extra]]
            label = " · ".join(names[i] for i in chosen)
            extra += 1
        if label in used:
            label = f"{label} ({s})"
        used.add(label)
        labels[s] = label
        terms_of[s] = [(names[i], float(share[i]), float(lift[i])) for i in chosen]
    return labels, terms_of


def projection_basis(features: Tensor, dim: int = 64) -> Tensor:
    """[C, dim] the directions that keep most of the features' dot products (top right
    singular vectors; zero columns when there are fewer than ``dim``): look-alike vectors of a
    fixed size for the vector index, whatever the number of categories."""
    if features.numel() == 0:
        return torch.zeros(features.size(1), dim)
    _, _, vh = torch.linalg.svd(features.float(), full_matrices=False)
    basis = vh[:dim].T
    if basis.size(1) < dim:
        basis = torch.cat([basis, torch.zeros(basis.size(0), dim - basis.size(1))], dim=1)
    return basis
