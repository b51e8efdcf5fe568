"""The lazy greedy engine behind Prune4ReL, independent of how similarities are obtained.

Notation (``n`` examples, pick set ``S``):

* ``conf(s)``: confidence of example ``s`` (shape (n,), in [0, 1]);
* ``rows(s)``: the examples ``x`` whose neighbourhood contains ``s``, with ``sim(x, s) > tau``
  (``s`` itself included with similarity 1);
* ``N(x; S) = sum_{s in S, x in rows(s)} sim(x, s) * conf(s)``, the neighbourhood confidence;
* ``f(S) = sum_x tanh(N(x; S) / eta)``.

Two objectives are greedily maximised, both with lazy evaluation (a candidate's score can
only shrink as ``S`` grows, so a stale heap entry is an upper bound):

* ``"published"``: the published implementation's rule, score(x) =
  ``tanh((N(x) + conf(x)) / eta) - tanh(N(x) / eta)``;
* ``"full"``: the true marginal gain ``f(S + s) - f(S)``, which keeps the ``1 - 1/e``
  guarantee of greedy maximisation of a monotone submodular function.

Ties go to the lowest index. Class balance follows the published round-robin (see
:class:`RoundRobin`).

Scores are differences ``tanh(b + d) - tanh(b)`` with ``b = N / eta >= 0``, ``d >= 0``. Once
``N`` is large both tanh round to 1 in float64 (from ``N / eta`` of about 19) and the naive
difference collapses to 0 or to one rounding step, so late picks would be decided by rounding
noise. They are computed instead as ``2 e^{-2b} (1 - e^{-2d}) / ((1 + e^{-2(b+d)})(1 +
e^{-2b}))`` (with ``expm1``), which is the same number in exact arithmetic, accurate to a few
ulps everywhere, and never overflows.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

__all__ = ["GreedyResult", "RoundRobin", "RowSource", "lazy_greedy", "tanh_gain"]

# Relative slack under which a recomputed score still counts as equal to its stored bound
# (the two may differ in the last bits through a different summation order).
_RTOL = 1e-12


def tanh_gain(base: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """``tanh(base + delta) - tanh(base)`` for ``base, delta >= 0``, without cancellation.

    Parameters
    ----------
    base, delta : ndarray of float64 (broadcastable)

    Returns
    -------
    ndarray of float64, in ``[0, 1]``
    """
    eb = np.exp(-2.0 * base)
    return -2.0 * eb * np.expm1(-2.0 * delta) / ((1.0 + np.exp(-2.0 * (base + delta))) * (1.0 + eb))


def _tanh_gain_scalar(base: float, delta: float) -> float:
    """Scalar :func:`tanh_gain` (math functions: several times faster than numpy scalars)."""
    eb = math.exp(-2.0 * base)
    return -2.0 * eb * math.expm1(-2.0 * delta) / ((1.0 + math.exp(-2.0 * (base + delta))) * (1.0 + eb))


class RowSource(Protocol):
    """Gives the neighbourhood rows the greedy needs."""

    n: int

    def row(self, s: int) -> tuple[np.ndarray, np.ndarray]:
        """``(xs, sims)``: every ``x`` with ``s`` in its neighbourhood, and ``sim(x, s)``."""
        ...

    def initial_full_gains(self, conf: np.ndarray, eta: float) -> np.ndarray:
        """``f({s}) = sum_{x in rows(s)} tanh(sim(x, s) * conf(s) / eta)`` for all ``s``."""
        ...


class RoundRobin:
    """The published class-balanced pick schedule.

    ``active`` starts as all classes in label order. Pick ``i`` targets
    ``active[i % len(active)]``. While that class has no unselected example left: the first
    time, remember ``m`` = that class's size; remove the class; retarget
    ``active[i % len(active)]``; if the new target has already given more than ``1.5 * m``
    picks, switch to unconstrained mode after the current pick, which still comes from the
    target class. In unconstrained mode (and with ``balance=False``) every pick is the best
    over all unselected examples.

    Parameters
    ----------
    labels : ndarray of int, shape (n,)
        Given labels.
    balance : bool
        False: unconstrained from the start.
    """

    def __init__(self, labels: np.ndarray, balance: bool) -> None:
        classes, sizes = np.unique(labels, return_counts=True)
        self.size = {int(c): int(k) for c, k in zip(classes, sizes)}
        self.remaining = dict(self.size)
        self.picked = dict.fromkeys(self.size, 0)
        self.active = [int(c) for c in classes]
        self.first_size: int | None = None
        self.unconstrained = not balance
        self._switch_after_pick = False

    def target(self, step: int) -> int | None:
        """Class that pick number ``step`` (0-based) must come from; None = any class."""
        if self.unconstrained:
            return None
        t = self.active[step % len(self.active)]
        while self.remaining[t] == 0:
            if self.first_size is None:
                self.first_size = self.size[t]
            self.active.remove(t)
            t = self.active[step % len(self.active)]
            if self.picked[t] > 1.5 * self.first_size:
                self._switch_after_pick = True
        return t

    def record(self, cls: int) -> None:
        """Account for a pick from class ``cls``."""
        self.remaining[cls] -= 1
        self.picked[cls] += 1
        if self._switch_after_pick:
            self.unconstrained = True


@dataclass
class GreedyResult:
    """Picks, their scores, and the final neighbourhood confidence ``N`` (shape (n,))."""

    indices: np.ndarray
    gains: np.ndarray
    neighborhood_confidence: np.ndarray

    def objective(self, eta: float) -> float:
        """``f(S) = sum_x tanh(N(x; S) / eta)``."""
        return float(np.tanh(self.neighborhood_confidence / eta).sum())


def lazy_greedy(
    rows: RowSource,
    conf: np.ndarray,
    labels: np.ndarray,
    budget: int,
    *,
    eta: float = 1.0,
    objective: str = "published",
    balance: bool = True,
    progress: bool = False,
) -> GreedyResult:
    """Greedily pick ``budget`` examples maximising neighbourhood confidence.

    Parameters
    ----------
    rows : RowSource
        Neighbourhood rows (a sparse graph or similarities computed on the fly).
    conf : ndarray of float64, shape (n,)
        Confidence of each example.
    labels : ndarray of int, shape (n,)
        Given labels (for class balance only).
    budget : int
        Number of picks, ``1 <= budget <= n``.
    eta : float
        Temperature of the tanh saturation, > 0.
    objective : {"published", "full"}
        Score rule (see the module docstring).
    balance : bool
        Published class round-robin (True) or unconstrained greedy (False).
    progress : bool
        Show a progress bar over picks.

    Returns
    -------
    GreedyResult
    """
    n = rows.n
    nbr_conf = np.zeros(n, dtype=np.float64)
    cached: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    if objective == "published":
        initial = np.tanh(conf / eta)

        def score(x: int) -> float:
            return _tanh_gain_scalar(nbr_conf[x] / eta, conf[x] / eta)

    elif objective == "full":
        initial = rows.initial_full_gains(conf, eta)

        def score(x: int) -> float:
            xs, sims = rows.row(x)
            cached.clear()
            cached[x] = (xs, sims)
            return float(tanh_gain(nbr_conf[xs] / eta, sims * (conf[x] / eta)).sum())

    else:
        raise ValueError(f"`objective` must be 'published' or 'full', got {objective!r}")

    schedule = RoundRobin(labels, balance)
    heaps: dict[int | None, list[tuple[float, int]]] = {}
    if balance:
        for c in schedule.active:
            members = np.flatnonzero(labels == c)
            heaps[c] = list(zip((-initial[members]).tolist(), members.tolist()))
            heapq.heapify(heaps[c])
    else:
        heaps[None] = list(zip((-initial).tolist(), range(n)))
        heapq.heapify(heaps[None])

    picks = np.empty(budget, dtype=np.int64)
    gains = np.empty(budget, dtype=np.float64)
    bar = tqdm(total=budget, desc=f"greedy ({objective} objective)", unit="pick", disable=not progress)
    for step in range(budget):
        target = schedule.target(step)
        if target is None and None not in heaps:
            merged = [entry for h in heaps.values() for entry in h]
            heapq.heapify(merged)
            heaps = {None: merged}
        pick, gain = _pop_best(heaps[target], score)
        picks[step], gains[step] = pick, gain
        schedule.record(int(labels[pick]))
        xs, sims = cached.get(pick) or rows.row(pick)
        nbr_conf[xs] += sims * conf[pick]
        bar.update(1)
    bar.close()
    return GreedyResult(indices=picks, gains=gains, neighborhood_confidence=nbr_conf)


def _pop_best(heap: list[tuple[float, int]], score: Callable[[int], float]) -> tuple[int, float]:
    """Pop the entry with the largest current score (ties: lowest index), lazily."""
    while True:
        neg_bound, x = heap[0]
        current = score(x)
        if current >= -neg_bound - _RTOL * abs(neg_bound):
            heapq.heappop(heap)
            return x, current
        heapq.heapreplace(heap, (-current, x))
