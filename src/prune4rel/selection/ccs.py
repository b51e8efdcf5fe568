"""Coverage-centric coreset selection (CCS; Zheng et al., ICLR 2023).

1. Rank the examples by a difficulty score and drop the hardest ``beta`` share
   (``floor(beta * n)`` examples; fewer if that would leave under ``budget``).
2. Split the remaining score range ``[min, max]`` into ``strata`` equal-width bins.
3. Visit the non-empty bins from the smallest to the largest (ties: lower score first);
   give each ``min(size, floor(remaining budget / remaining bins))`` examples drawn
   uniformly at random without replacement. Smaller bins that cannot fill their share
   pass it on, so exactly ``budget`` examples are drawn.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from prune4rel.selection._common import SEED, BaselineSelector
from prune4rel.selection.base import Selection, class_budgets, register
from prune4rel.selection.scores import aum_scores, el2n_scores
from prune4rel.signals import Signals
from prune4rel.validation import Boolean, Integer, Options, Real, Rule

__all__ = ["CCS", "ccs_sample", "stratum_ids"]


def stratum_ids(values: np.ndarray, strata: int) -> np.ndarray:
    """Equal-width bin of each value over ``[values.min(), values.max()]``.

    Bin ``floor((v - lo) / (hi - lo) * strata)``, the maximum going to the last bin; all
    values go to bin 0 when they are equal.

    Parameters
    ----------
    values : ndarray of float, shape (m,), m >= 1
    strata : int
        Number of bins, >= 1.

    Returns
    -------
    ndarray of int64, shape (m,)
        Bin ids in ``[0, strata)``.
    """
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.zeros(values.shape[0], dtype=np.int64)
    ids = np.floor((values - lo) / (hi - lo) * strata).astype(np.int64)
    return np.minimum(ids, strata - 1)


def ccs_sample(
    difficulty: np.ndarray,
    budget: int,
    beta: float,
    strata: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """CCS on one group of examples.

    Parameters
    ----------
    difficulty : ndarray of float, shape (m,)
        Higher is harder. The hardest ``min(floor(beta * m), m - budget)`` are dropped
        (equal difficulties: the lower position is dropped first).
    budget : int
        ``1 <= budget <= m``.
    beta : float
        Hard cut-off share in ``[0, 1)``.
    strata : int
        Number of equal-width strata.
    rng : numpy.random.Generator

    Returns
    -------
    picks : ndarray of int64, shape (budget,)
        Positions in ``difficulty``, stratum by stratum (smallest stratum first), in
        sampled order within a stratum.
    stratum : ndarray of int64, shape (m,)
        Stratum of each position, -1 for the dropped ones.
    """
    m = difficulty.shape[0]
    n_cut = min(int(beta * m), m - budget)
    hardest_first = np.lexsort((np.arange(m), -difficulty))
    kept = np.sort(hardest_first[n_cut:])
    stratum = np.full(m, -1, dtype=np.int64)
    stratum[kept] = stratum_ids(difficulty[kept], strata)
    sizes = np.bincount(stratum[kept], minlength=strata)
    nonempty = np.flatnonzero(sizes)
    visit = nonempty[np.lexsort((nonempty, sizes[nonempty]))]
    picks = []
    left = budget
    for j, s in enumerate(visit):
        share = min(int(sizes[s]), left // (visit.shape[0] - j))
        members = np.flatnonzero(stratum == s)
        picks.append(rng.choice(members, size=share, replace=False))
        left -= share
    return np.concatenate(picks).astype(np.int64), stratum


@register("ccs")
class CCS(BaselineSelector):
    """Coverage-centric coreset selection (Zheng et al., 2023) over a difficulty score.

    Difficulty is ``-AUM`` (``score="aum"``, the default: low area under the margin marks
    hard and likely mislabelled examples, Pleiss et al. 2020, so the ``beta`` cut drops
    them first) or EL2N (``score="el2n"``, needs only ``probs``; see
    :class:`~prune4rel.selection.scores.EL2N`). See the module docstring for the steps.

    ``Selection.indices`` come in sampling order (stratum by stratum, smallest stratum
    first); ``Selection.gains`` hold each pick's score (AUM in logit units or EL2N, not
    negated); ``Selection.extras`` hold ``"score"`` (all ``n`` scores) and ``"stratum"``
    (stratum id of each example, -1 where cut or not considered; per class with ``balance``).

    Parameters
    ----------
    score : {"aum", "el2n"}
        Difficulty score. ``"aum"`` needs ``Signals.margins``.
    beta : float
        Share of the hardest examples cut before stratifying, in ``[0, 1)``.
    strata : int
        Number of equal-width strata (the paper uses 50).
    seed : int
        Seed of the sampling; the same seed gives the same subset.
    balance : bool
        Run CCS inside each class (under the given labels) with a budget proportional to
        its size.
    """

    required_signals = ("margins",)
    param_rules: ClassVar[dict[str, Rule]] = {
        "score": Options("aum", "el2n"),
        "beta": Real(0.0, 1.0, closed="left"),
        "strata": Integer(1),
        "seed": SEED,
        "balance": Boolean(),
    }

    def __init__(
        self,
        score: str = "aum",
        beta: float = 0.1,
        strata: int = 50,
        seed: int = 0,
        balance: bool = False,
    ) -> None:
        self.score = score
        self.beta = beta
        self.strata = strata
        self.seed = seed
        self.balance = balance
        self._validate_params()

    def needed_signals(self) -> tuple[str, ...]:
        return ("margins",) if self.score == "aum" else ()

    def alternative(self, name: str) -> str:
        return "pass score='el2n', which needs only probs"

    def _scores(self, signals: Signals) -> np.ndarray:
        if self.score == "aum":
            assert signals.margins is not None  # checked by check_signals
            return aum_scores(signals.margins)
        return el2n_scores(signals.probs, signals.labels)

    def _select(self, signals: Signals, budget: int) -> Selection:
        score = self._scores(signals)
        difficulty = -score if self.score == "aum" else score
        rng = np.random.default_rng(self.seed)
        if not self.balance:
            idx, stratum = ccs_sample(difficulty, budget, self.beta, self.strata, rng)
        else:
            labels = signals.labels
            stratum = np.full(signals.n, -1, dtype=np.int64)
            parts = []
            for c, k in class_budgets(labels, budget).items():
                if k == 0:
                    continue
                members = np.flatnonzero(labels == c)
                local, stratum[members] = ccs_sample(difficulty[members], k, self.beta, self.strata, rng)
                parts.append(members[local])
            idx = np.concatenate(parts)
        return Selection(
            indices=idx.astype(np.int64),
            gains=score[idx],
            extras={"score": score, "stratum": stratum},
        )
