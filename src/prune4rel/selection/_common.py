"""Helpers shared by the baseline selectors: signal checks, ranking and the score-selector base.

Private module: the public names live in :mod:`prune4rel.selection.baselines`.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar

import numpy as np

from prune4rel.selection.base import MissingSignalError, Selection, Selector, class_budgets
from prune4rel.signals import Signals
from prune4rel.validation import Boolean, Integer, Rule

__all__ = [
    "SEED",
    "BaselineSelector",
    "ScoreSelector",
    "missing_signal_error",
    "top_k",
]

# How to produce each optional per-epoch history, quoted in MissingSignalError messages.
_RECORD_HINT = "run warm-up with per-epoch recording on (prune4rel.warmup.train, record=True)"
_HISTORIES = ("losses", "correct", "margins")

#: The rule of every ``seed`` (a seed of :func:`numpy.random.default_rng`).
SEED = Integer(0)


def missing_signal_error(method: str, name: str, alternative: str = "") -> MissingSignalError:
    """The error raised when selector ``method`` lacks the optional signal ``name``.

    Example: ``forgetting needs per-epoch `correct` (an (epochs, n) history): run warm-up
    with per-epoch recording on (prune4rel.warmup.train, record=True)``, followed by
    ``"; or " + alternative`` when given.
    """
    if name in _HISTORIES:
        what, hint = f"per-epoch `{name}` (an (epochs, n) history)", _RECORD_HINT
    else:
        what, hint = f"`{name}`", f"add `{name}` to the Signals"
    extra = f"; or {alternative}" if alternative else ""
    return MissingSignalError(f"{method} needs {what}: {hint}{extra}")


def top_k(
    key: np.ndarray,
    budget: int,
    labels: np.ndarray,
    balance: bool,
    tiebreak: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of the ``budget`` examples with the smallest ``key``, best (smallest) first.

    Parameters
    ----------
    key : ndarray of float, shape (n,)
        Ranking key; smaller is better.
    budget : int
        Number of indices to return, ``1 <= budget <= n``.
    labels : ndarray of int, shape (n,)
        Given labels, used only when ``balance`` is True.
    balance : bool
        If True, take the best ``class_budgets(labels, budget)[c]`` examples of each class c.
    tiebreak : ndarray, shape (n,), optional
        Secondary key for equal ``key`` values (smaller first); default: the index.

    Returns
    -------
    ndarray of int64, shape (budget,)
        Distinct indices ordered by ``(key, tiebreak)``.
    """
    n = key.shape[0]
    second = np.arange(n) if tiebreak is None else tiebreak
    if not balance:
        return np.lexsort((second, key))[:budget].astype(np.int64)
    parts = []
    for c, k in class_budgets(labels, budget).items():
        if k == 0:
            continue
        members = np.flatnonzero(labels == c)
        parts.append(members[np.lexsort((second[members], key[members]))[:k]])
    idx = np.concatenate(parts)
    return idx[np.lexsort((second[idx], key[idx]))].astype(np.int64)


class BaselineSelector(Selector):
    """A :class:`Selector` whose missing-signal errors say how to produce the signal.

    Subclasses whose needs depend on a hyper-parameter override :meth:`needed_signals`;
    ``required_signals`` then lists the needs of the default configuration.
    """

    def needed_signals(self) -> tuple[str, ...]:
        """Optional :class:`Signals` fields this configured instance reads."""
        return self.required_signals

    def alternative(self, name: str) -> str:
        """How to do without the missing signal ``name`` ("" when there is no way)."""
        return ""

    def check_signals(self, signals: Signals) -> None:
        """Raise :class:`MissingSignalError` when a needed signal is absent."""
        if not isinstance(signals, Signals):
            raise ValueError(f"`signals` must be a prune4rel.Signals, got {type(signals).__name__}")
        for name in self.needed_signals():
            if not signals.has(name):
                raise missing_signal_error(self.name, name, self.alternative(name))


class ScoreSelector(BaselineSelector):
    """Rank examples by a per-example score and keep the ``budget`` best.

    Subclasses implement :meth:`scores` and set ``keep`` to ``"highest"`` or ``"lowest"``.
    ``Selection.indices`` come best first (ties broken by :meth:`tiebreak`, by default the
    lower index first), ``Selection.gains`` hold each pick's score and
    ``Selection.extras["score"]`` the scores of all ``n`` examples. The only hyper-parameter
    is ``balance`` (per-class budgets proportional to the class sizes under the given
    labels) unless a subclass declares more.
    """

    keep: ClassVar[str] = "highest"
    param_rules: ClassVar[dict[str, Rule]] = {"balance": Boolean()}

    def __init__(self, balance: bool = False) -> None:
        self.balance = balance
        self._validate_params()

    @abstractmethod
    def scores(self, signals: Signals) -> np.ndarray:
        """Per-example score, float64 of shape (n,)."""

    def tiebreak(self, n: int) -> np.ndarray | None:
        """Secondary ranking key for equal scores (None: lower index first)."""
        return None

    def _select(self, signals: Signals, budget: int) -> Selection:
        score = np.asarray(self.scores(signals), dtype=np.float64)
        key = -score if self.keep == "highest" else score
        idx = top_k(key, budget, signals.labels, self.balance, self.tiebreak(signals.n))
        return Selection(indices=idx, gains=score[idx], extras={"score": score})
