"""One-call selection for the common case."""

from __future__ import annotations

from typing import Any

import numpy as np

from prune4rel.selection import get_selector, resolve_budget
from prune4rel.signals import Signals

__all__ = ["select"]


def select(
    embeddings: np.ndarray,
    probs: np.ndarray,
    labels: np.ndarray,
    fraction: float | int,
    method: str = "prune4rel",
    **params: Any,
) -> np.ndarray:
    """Select a subset of a noisy training set from arrays.

    Parameters
    ----------
    embeddings : ndarray of float, shape (n, d)
        Per-example features (e.g. a warmed-up model's penultimate activations).
    probs : ndarray of float, shape (n, C)
        Softmax probabilities of the same model.
    labels : ndarray of int, shape (n,)
        Given (noisy) labels.
    fraction : float or int
        A ``float`` in ``(0, 1]`` is the fraction of examples to keep; an ``int`` in
        ``[1, n]`` is a count. The type decides: ``1.0`` keeps all, ``1`` keeps one, ``3.0``
        is an error (see :func:`~prune4rel.selection.resolve_budget`).
    method : str
        Registry name (see :func:`prune4rel.available_selectors`).
    **params
        Hyper-parameters of the method, e.g. ``tau=0.975`` for ``prune4rel``.

    Returns
    -------
    ndarray of int64, shape (budget,)
        Selected indices (pick order for greedy methods).

    Raises
    ------
    ValueError
        For a ``method`` that is not a registered name, a parameter the method does not
        take or a value its rule does not allow (:class:`~prune4rel.validation.ParameterError`,
        naming the parameter; see ``prune4rel methods``), bad arrays (naming the array) or a
        bad ``fraction``.

    Examples
    --------
    >>> idx = prune4rel.select(emb, probs, noisy_labels, 0.3)          # doctest: +SKIP
    >>> idx = prune4rel.select(emb, probs, noisy_labels, 0.3, method="uniform", seed=0)  # doctest: +SKIP
    """
    selector = get_selector(method, **params)
    signals = Signals(labels=labels, probs=probs, embeddings=embeddings)
    return selector.select(signals, resolve_budget(fraction, signals.n, name="fraction")).indices
