"""Baseline selectors that users compare Prune4ReL against."""

from __future__ import annotations

import numpy as np

from prune4rel.selection.base import Selection, Selector, class_budgets, register
from prune4rel.signals import Signals

__all__ = ["Uniform"]


@register("uniform")
class Uniform(Selector):
    """Uniformly random subset (seeded).

    Parameters
    ----------
    seed : int
        Seed of the random generator; the same seed gives the same subset.
    balance : bool
        If True, sample each class separately with a budget proportional to its size
        under the given labels (see :func:`~prune4rel.selection.base.class_budgets`).
    """

    def __init__(self, seed: int = 0, balance: bool = False) -> None:
        self.seed = seed
        self.balance = balance

    def _select(self, signals: Signals, budget: int) -> Selection:
        rng = np.random.default_rng(self.seed)
        if not self.balance:
            idx = rng.choice(signals.n, size=budget, replace=False)
        else:
            parts = []
            for c, k in class_budgets(signals.labels, budget).items():
                members = np.flatnonzero(signals.labels == c)
                parts.append(rng.choice(members, size=k, replace=False))
            idx = np.concatenate(parts)
        idx = np.sort(idx).astype(np.int64)
        return Selection(indices=idx, gains=np.zeros(budget))
