"""The graph a time-aware model reads: the timed actions, the follows, the follower adoptions.

Churn, influence and their choice on validation all ask "as of ``at``, what happens over the
next ``horizon_ms``?" of the same three things; :class:`GraphAsOf` carries them as one value so
that a question is ``f(graph, at=..., horizon_ms=...)``. Each model reads only what happened at
or before the time it is asked about; which follows are known at a cut is the caller's (pass
only those), as is cutting the actions where a later stretch must not be seen at all.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from torch import Tensor

from engine.dimensions.adoptions import Actions, Adoptions


@dataclass(frozen=True)
class GraphAsOf:
    actions: Actions  # timed actions (user, item, ts, ...)
    follow_src: Tensor  # [F] follower
    follow_dst: Tensor  # [F] followee
    n_users: int
    adopted: Adoptions | None = None  # follower adoptions, with their times

    def adoptions(self) -> Adoptions:
        """The adoptions; a model that learns from them cannot run without."""
        if self.adopted is None:
            raise ValueError("this question needs the follower adoptions (GraphAsOf.adopted)")
        return self.adopted

    def with_follows(self, follow_src: Tensor, follow_dst: Tensor) -> GraphAsOf:
        """The same actions with other follows (those known at a cut); the adoptions, which
        ran along the old follows, are left to be counted again."""
        return replace(self, follow_src=follow_src, follow_dst=follow_dst, adopted=None)
