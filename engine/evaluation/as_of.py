"""What each evaluation predicts at a cut, registered so that one leakage guard covers them all.

An evaluation scores what it predicts at a cut against what happened after it. Each one
registers here the function that makes those predictions (or, for a trained model, builds every
input it trains and predicts from) out of a snapshot and a cut, and calls that same function
itself. ``tests/engine/test_leakage_guard.py`` perturbs everything after the cut on random
shops — old edges touched again, new edges, tags on old items (so their categories move), new
follows, new orders, logged actions — and asserts that every registered function's output is
unchanged. A new evaluation gets the guard by registering; the test also names the evaluations
it expects, so one that stops registering fails it.

A registered function takes the snapshot, the cut (ms; what is known is what happened at or
before it) and the evaluation's config
(:class:`engine.evaluation.snapshot_evaluation.EvaluationConfig`),
and returns named tensors. Lengths of the question asked (a horizon, a holdout) are part of the
question, not knowledge: a function takes them from the config, never from the data's end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from torch import Tensor

if TYPE_CHECKING:
    from engine.evaluation.snapshot_evaluation import EvaluationConfig
    from engine.snapshot import Snapshot

AtCut = Callable[["Snapshot", int, "EvaluationConfig"], dict[str, Tensor]]

REGISTRY: dict[str, AtCut] = {}


def predicts_at_cut(name: str) -> Callable[[AtCut], AtCut]:
    """Register ``function`` as what evaluation ``name`` predicts at a cut."""

    def register(function: AtCut) -> AtCut:
        if name in REGISTRY and REGISTRY[name] is not function:
            raise ValueError(f"evaluation {name!r} is registered twice")
        REGISTRY[name] = function
        return function

    return register
