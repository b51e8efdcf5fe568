"""k-center greedy coreset selection (Sener & Savarese, ICLR 2018).

Greedy 2-approximation of the k-center problem on the embeddings: start from one center,
then repeatedly add the example farthest (Euclidean) from its nearest chosen center.

With numba (a prune4rel dependency) the greedy runs compiled and computes an exact
distance only where a lower bound from up to 32 principal coordinates cannot rule out that
the new center is the nearest (:mod:`prune4rel.selection.kcenter_kernel`): 50,000 x 128
embeddings at 30% take seconds instead of minutes. Without numba, every pick updates every
example with one matrix-vector product. Both keep one (n,) array of squared distances to the
nearest chosen center and never form a (budget, n) or (n, n) matrix: memory is
``O(n + budget)`` beyond the embeddings (the compiled greedy adds 136 bytes per example; a
float32 copy of float16 embeddings, a float64 one of integer embeddings).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from tqdm.auto import tqdm

from prune4rel.selection._common import SEED, BaselineSelector
from prune4rel.selection.base import Selection, class_budgets, register
from prune4rel.selection.greedy_numba import numba_available
from prune4rel.signals import Signals
from prune4rel.validation import Boolean, Integer, Rule, optional

__all__ = ["KCenterGreedy", "kcenter_greedy"]

#: Picks per compiled call between two progress-bar updates.
_CHUNK = 256


def _rows(embeddings: np.ndarray) -> np.ndarray:
    """C-contiguous float32 or float64 rows: float16 is widened to float32, any other
    non-float32 dtype (integers, long double) to float64."""
    x = np.asarray(embeddings)
    if x.dtype == np.float16:
        x = x.astype(np.float32)
    elif x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    return np.ascontiguousarray(x)


def kcenter_greedy(
    embeddings: np.ndarray,
    budget: int,
    first: int,
    *,
    min_dist: np.ndarray | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy k-center from the center ``first``.

    Ties (equal distance to the chosen set) go to the lower index; a chosen example is
    never chosen again, even when duplicates leave every remaining distance at 0.
    Float16 embeddings are read as float32, integers as float64. With numba, squared
    distances are sums of squared differences accumulated in float64; without it they are
    ``||x||^2 - 2 x·c + ||c||^2`` (clamped at 0) with the dot products in the rows' dtype.
    The two can order two examples whose distances agree to rounding differently, nothing
    else.

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
    x = _rows(embeddings)
    n = x.shape[0]
    if not 1 <= budget <= n:
        raise ValueError(f"`budget` must be in [1, n={n}], got {budget}")
    if not 0 <= first < n:
        raise ValueError(f"`first` must be an index in [0, n={n}), got {first}")
    if min_dist is None:
        min_dist = np.empty(n, dtype=np.float64)
    elif min_dist.shape != (n,) or min_dist.dtype != np.float64:
        raise ValueError(f"`min_dist` must be a float64 array of shape ({n},), got {min_dist.shape}")
    indices = np.empty(budget, dtype=np.int64)
    radii = np.empty(budget, dtype=np.float64)
    min_dist.fill(np.inf)
    indices[0] = first
    with tqdm(total=budget, desc="kcenter", unit="pick", disable=not progress, leave=False) as bar:
        if numba_available():
            from prune4rel.selection.kcenter_kernel import kcenter_steps, principal_head

            head, slack = principal_head(x)
            skip_at = np.full(n, np.inf)
            for start in range(0, budget, _CHUNK):
                stop = min(budget, start + _CHUNK)
                kcenter_steps(x, head, slack, start, stop, budget, indices, radii, min_dist, skip_at)
                bar.update(stop - start)
        else:
            _matvec_greedy(x, budget, indices, radii, min_dist, bar)
    return indices, radii


def _matvec_greedy(
    x: np.ndarray, budget: int, indices: np.ndarray, radii: np.ndarray, min_dist: np.ndarray, bar: tqdm
) -> None:
    """The greedy without numba: one matrix-vector product per pick, updating every example."""
    n = x.shape[0]
    sq = np.einsum("ij,ij->i", x, x).astype(np.float64, copy=False)  # (n,)
    dots = np.empty(n, dtype=x.dtype)  # (n,) work buffer: x @ c
    d2 = np.empty(n, dtype=np.float64)  # (n,) work buffer: squared distances to c
    center = int(indices[0])
    for t in range(budget):
        if t > 0:
            center = int(np.argmax(min_dist))
        radii[t] = np.sqrt(min_dist[center])
        indices[t] = center
        min_dist[center] = -np.inf
        bar.update(1)
        if t == budget - 1:
            break
        np.matmul(x, x[center], out=dots)
        np.multiply(dots, -2.0, out=d2)
        d2 += sq
        d2 += sq[center]
        np.maximum(d2, 0.0, out=d2)
        np.minimum(min_dist, d2, out=min_dist)


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
