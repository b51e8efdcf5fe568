"""Baseline selectors that users compare Prune4ReL against.

Every baseline is importable from here; importing this module registers them all:

=====================  =======================================  =========================
registry name          class                                    module
=====================  =======================================  =========================
``uniform``            :class:`Uniform`                         this module
``small_loss``         :class:`~.scores.SmallLoss`              :mod:`.scores`
``least_confidence``   :class:`~.scores.LeastConfidence`        :mod:`.scores`
``margin``             :class:`~.scores.Margin`                 :mod:`.scores`
``entropy``            :class:`~.scores.Entropy`                :mod:`.scores`
``el2n``               :class:`~.scores.EL2N`                   :mod:`.scores`
``grand``              :class:`~.scores.GraNd`                  :mod:`.scores`
``forgetting``         :class:`~.scores.Forgetting`             :mod:`.scores`
``aum``                :class:`~.scores.AUM`                    :mod:`.scores`
``kcenter``            :class:`~.kcenter.KCenterGreedy`         :mod:`.kcenter`
``moderate``           :class:`~.moderate.Moderate`             :mod:`.moderate`
``ccs``                :class:`~.ccs.CCS`                       :mod:`.ccs`
=====================  =======================================  =========================

Order of ``Selection.indices``: score-ranked methods (``small_loss`` ... ``aum``,
``moderate``) return them best first; ``kcenter`` and ``ccs`` in pick order; ``uniform``
ascending. Each class documents the units of its ``Selection.gains``. No selector reads
``Signals.clean_labels``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from prune4rel.selection._common import SEED
from prune4rel.selection.base import Selection, Selector, class_budgets, register
from prune4rel.selection.ccs import CCS
from prune4rel.selection.kcenter import KCenterGreedy
from prune4rel.selection.moderate import Moderate
from prune4rel.selection.scores import (
    AUM,
    EL2N,
    Entropy,
    Forgetting,
    GraNd,
    LeastConfidence,
    Margin,
    SmallLoss,
)
from prune4rel.signals import Signals
from prune4rel.validation import Boolean, Rule

__all__ = [
    "AUM",
    "CCS",
    "EL2N",
    "Entropy",
    "Forgetting",
    "GraNd",
    "KCenterGreedy",
    "LeastConfidence",
    "Margin",
    "Moderate",
    "SmallLoss",
    "Uniform",
]


@register("uniform")
class Uniform(Selector):
    """Uniformly random subset (seeded).

    Parameters
    ----------
    seed : int
        Seed of the random generator (an integer >= 0); the same seed gives the same subset.
    balance : bool
        If True, sample each class separately with a budget proportional to its size
        under the given labels (see :func:`~prune4rel.selection.base.class_budgets`).
    """

    param_rules: ClassVar[dict[str, Rule]] = {"seed": SEED, "balance": Boolean()}

    def __init__(self, seed: int = 0, balance: bool = False) -> None:
        self.seed = seed
        self.balance = balance
        self._validate_params()

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
        return Selection(indices=idx, gains=np.zeros(budget))  # gains: no score (all 0)
