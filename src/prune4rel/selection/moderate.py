"""Moderate coreset (Moderate-DS; Xia et al., ICLR 2023).

Score each example by the Euclidean distance of its embedding to the median embedding
(coordinate-wise) of its class under the given labels, then keep the examples whose
distance is moderate: the middle band of the distance ranking, dropping the closest
(easiest) and the farthest (hardest, often mislabelled) tails in equal numbers.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from prune4rel.selection._common import BaselineSelector, top_k
from prune4rel.selection.base import Selection, register
from prune4rel.signals import Signals
from prune4rel.validation import Boolean, Rule

__all__ = ["Moderate", "class_median_distances", "middle_band_key"]


def class_median_distances(embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Distance of each embedding to its class's coordinate-wise median embedding.

    Parameters
    ----------
    embeddings : ndarray of float, shape (n, d)
    labels : ndarray of int, shape (n,)

    Returns
    -------
    ndarray of float64, shape (n,)
        ``||x_i - median{x_j : y_j = y_i}||_2`` (``numpy.median`` per coordinate, which
        averages the two middle values of an even-sized class).
    """
    dist = np.empty(labels.shape[0], dtype=np.float64)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        xc = embeddings[members].astype(np.float64)
        xc -= np.median(xc, axis=0)
        dist[members] = np.sqrt(np.einsum("ij,ij->i", xc, xc))
    return dist


def middle_band_key(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranking key that puts the median-ranked values first.

    With ``r`` the rank of each value (ascending, ties by index) among ``m`` values, the key
    is ``|2r - (m - 1)| / m`` (0 at the median rank) and the tie-break is ``r``. The
    ``k`` smallest keys are exactly the ranks ``floor((m - k) / 2) ... floor((m - k) / 2)
    + k - 1``: the middle band of width ``k``.

    Parameters
    ----------
    values : ndarray of float, shape (m,)

    Returns
    -------
    key : ndarray of float64, shape (m,)
    rank : ndarray of int64, shape (m,)
    """
    m = values.shape[0]
    rank = np.empty(m, dtype=np.int64)
    rank[np.lexsort((np.arange(m), values))] = np.arange(m)
    return np.abs(2 * rank - (m - 1)) / m, rank


@register("moderate")
class Moderate(BaselineSelector):
    """Keep the examples at a moderate distance from their class median (Moderate-DS).

    The distances to the class medians are ranked over the whole dataset (per class with
    ``balance=True``) and the ``budget`` examples of the middle ranks are kept: ranks
    ``floor((n - budget) / 2)`` to ``floor((n - budget) / 2) + budget - 1`` in ascending
    distance order. This follows the authors' rank window; it is deterministic (no seed).

    ``Selection.indices`` come most moderate first (closest in rank to the median rank;
    with ``balance``, relative to the class size); ``Selection.gains`` hold each pick's
    distance to its class median (embedding units); ``Selection.extras["distance"]`` the
    distances of all ``n`` examples.

    Parameters
    ----------
    balance : bool
        Take a middle band of each class, with per-class budgets proportional to the class
        sizes under the given labels.
    """

    param_rules: ClassVar[dict[str, Rule]] = {"balance": Boolean()}

    def __init__(self, balance: bool = False) -> None:
        self.balance = balance
        self._validate_params()

    def _select(self, signals: Signals, budget: int) -> Selection:
        labels = signals.labels
        dist = class_median_distances(signals.embeddings, labels)
        if not self.balance:
            key, rank = middle_band_key(dist)
        else:
            key = np.empty(signals.n, dtype=np.float64)
            rank = np.empty(signals.n, dtype=np.int64)
            for c in np.unique(labels):
                members = np.flatnonzero(labels == c)
                key[members], rank[members] = middle_band_key(dist[members])
        idx = top_k(key, budget, labels, self.balance, tiebreak=rank)
        return Selection(indices=idx, gains=dist[idx], extras={"distance": dist})
