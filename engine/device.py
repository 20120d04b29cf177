"""Device choice: CUDA when present (or asked for), CPU otherwise."""

from __future__ import annotations

import torch


def pick_device(preference: str = "auto") -> torch.device:
    if preference == "cpu":
        return torch.device("cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch.cuda.is_available() is False")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
