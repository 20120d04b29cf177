"""Sensitive groups in a snapshot, for the fairness report only (never a model input).

A snapshot carries them only when the deployment enables it (``privacy.sensitive_in_snapshots``):
per attribute, ``node_features["user"]["sensitive_<attribute>"]`` holds each user's group code
(-1: unknown) and ``selection["sensitive"][<attribute>]`` the groups' labels. The evaluation then
reports item ranking and churn per group, so a gap between groups is visible.
"""

from __future__ import annotations

import torch
from torch import Tensor

from engine.snapshot import Snapshot

PREFIX = "sensitive_"
Groups = dict[str, tuple[Tensor, list[str]]]  # attribute -> (code per user, labels)


def encode(values: list[str]) -> tuple[Tensor, list[str]]:
    """Group codes (-1 for an empty value) and the sorted labels."""
    labels = sorted({v for v in values if v})
    where = {label: i for i, label in enumerate(labels)}
    return torch.tensor([where.get(v, -1) for v in values], dtype=torch.long), labels


def attach(snapshot: Snapshot, attribute: str, values: list[str]) -> None:
    codes, labels = encode(values)
    snapshot.node_features.setdefault("user", {})[PREFIX + attribute] = codes
    snapshot.selection = {
        **snapshot.selection,
        "sensitive": {**snapshot.selection.get("sensitive", {}), attribute: labels},
    }


def sensitive_groups(snapshot: Snapshot) -> Groups:
    labels = snapshot.selection.get("sensitive", {})
    features = snapshot.node_features.get("user", {})
    return {
        attribute: (features[PREFIX + attribute], list(names))
        for attribute, names in labels.items()
        if PREFIX + attribute in features
    }


def members(groups: Groups) -> list[tuple[str, str, Tensor]]:
    """(attribute, label, boolean mask over users) for every group."""
    return [
        (attribute, label, codes == code)
        for attribute, (codes, labels) in groups.items()
        for code, label in enumerate(labels)
    ]
