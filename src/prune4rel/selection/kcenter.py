"""k-center greedy coreset selection (Sener & Savarese, ICLR 2018).

Greedy 2-approximation of the k-center problem on the embeddings: start from one center,
then repeatedly add the example farthest (Euclidean) from its nearest chosen center.

Memory is ``O(n + budget)`` beyond the embeddings: one (n,) array of squared distances to
the nearest chosen center, updated in place with each new center, plus two (n,) work
buffers and the (budget,) outputs. No (budget, n) or (n, n) matrix is ever formed; see
:func:`kcenter_greedy`.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from tqdm.auto import tqdm

from prune4rel.selection._common import SEED, BaselineSelector
from prune4rel.selection.base import Selection, class_budgets, register
from prune4rel.signals import Signals
from prune4rel.validation import Boolean, Integer, Rule, optional

__all__ = ["KCenterGreedy", "kcenter_greedy"]


def kcenter_greedy(
    embeddings: np.ndarray,
    budget: int,
    first: int,
    *,
    min_dist: np.ndarray | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy k-center from the center ``first``.

    Squared distances are computed as ``||x||^2 - 2 x·c + ||c||^2`` (clamped at 0): the dot
    products in the embeddings' dtype, the rest in float64, so float32 embeddings give
    float32-accurate distances. Ties (equal distance to the chosen set) go to the lower
    index; a chosen example is never chosen again, even when duplicates leave every
    remaining distance at 0.

    Parameters
    ----------
    embeddings : ndarray of float, shape (n, d)
    budget : int
        Number of centers, ``1 <= budget <= n``.
    first : int
        Index of the first center, in ``[0, n)``.
    min_dist : ndarray of float64, shape (n,), optional
        Buffer for the squared distance of each example to its nearest chosen center
        (``-inf`` marks chosen examples). Allocated when omitted; when given, it is
        overwritten and holds the final state on return.
    progress : bool
        Show a tqdm progress bar over the picks.

    Returns
    -------
    indices : ndarray of int64, shape (budget,)
        Centers in pick order.
    radii : ndarray of float64, shape (budget,)
        Distance of each pick to the centers chosen before it (the covering radius just
        before the pick); ``inf`` for the first center.
    """
    x = np.asarray(embeddings)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    n = x.shape[0]
    if not 1 <= budget <= n:
        raise ValueError(f"`budget` must be in [1, n={n}], got {budget}")
    if not 0 <= first < n:
        raise ValueError(f"`first` must be an index in [0, n={n}), got {first}")
    if min_dist is None:
        min_dist = np.empty(n, dtype=np.float64)
    elif min_dist.shape != (n,) or min_dist.dtype != np.float64:
        raise ValueError(f"`min_dist` must be a float64 array of shape ({n},), got {min_dist.shape}")
    sq = np.einsum("ij,ij->i", x, x).astype(np.float64, copy=False)  # (n,)
    dots = np.empty(n, dtype=x.dtype)  # (n,) work buffer: x @ c
    d2 = np.empty(n, dtype=np.float64)  # (n,) work buffer: squared distances to c
    indices = np.empty(budget, dtype=np.int64)
    radii = np.empty(budget, dtype=np.float64)
    min_dist.fill(np.inf)
    center = int(first)
    for t in tqdm(range(budget), desc="kcenter", disable=not progress, leave=False):
        if t > 0:
            center = int(np.argmax(min_dist))
        radii[t] = np.sqrt(min_dist[center])
        indices[t] = center
        min_dist[center] = -np.inf
        if t == budget - 1:
            break
        np.matmul(x, x[center], out=dots)
        np.multiply(dots, -2.0, out=d2)
        d2 += sq
        d2 += sq[center]
        np.maximum(d2, 0.0, out=d2)
        np.minimum(min_dist, d2, out=min_dist)
    return indices, radii


@register("kcenter")
class KCenterGreedy(BaselineSelector):
    """Keep a subset that covers the embedding space: greedy k-center (Sener & Savarese, 2018).

    ``Selection.indices`` come in pick order; ``Selection.gains`` hold each pick's Euclidean
    distance (embedding units) to the centers picked before it, ``inf`` for a first center.

    Parameters
    ----------
    seed : int
        Seed for the first center when ``first`` is None; the same seed gives the same
        subset.
    first : int or None
        Index of the first center; None draws it uniformly at random from ``seed``.
    balance : bool
        Run k-center separately inside each class (under the given labels) with a budget
        proportional to its size; the picks of the classes are concatenated in class order.
        ``first`` then seeds its own class, the other classes start from a seeded random
        member.
    progress : bool
        Show a progress bar over the picks.
    """

    param_rules: ClassVar[dict[str, Rule]] = {
        "seed": SEED,
        "first": optional(Integer(0)),
        "balance": Boolean(),
        "progress": Boolean(),
    }

    def __init__(
        self, seed: int = 0, first: int | None = None, balance: bool = False, progress: bool = False
    ) -> None:
        self.seed = seed
        self.first = first
        self.balance = balance
        self.progress = progress
        self._validate_params()

    def _select(self, signals: Signals, budget: int) -> Selection:
        n = signals.n
        if self.first is not None and self.first >= n:
            raise ValueError(f"`first` must be an index in [0, n={n}), got {self.first}")
        rng = np.random.default_rng(self.seed)
        x = signals.embeddings
        if not self.balance:
            first = int(rng.integers(n)) if self.first is None else self.first
            idx, radii = kcenter_greedy(x, budget, first, progress=self.progress)
            return Selection(indices=idx, gains=radii)
        labels = signals.labels
        idx_parts, gain_parts = [], []
        for c, k in class_budgets(labels, budget).items():
            members = np.flatnonzero(labels == c)
            # Draw for every class, so that a class's start does not depend on `first`.
            start = int(rng.integers(members.shape[0]))
            if k == 0:
                continue
            if self.first is not None and labels[self.first] == c:
                start = int(np.searchsorted(members, self.first))
            local, radii = kcenter_greedy(x[members], k, start, progress=self.progress)
            idx_parts.append(members[local])
            gain_parts.append(radii)
        return Selection(indices=np.concatenate(idx_parts), gains=np.concatenate(gain_parts))
