"""Synthetic label noise: symmetric and asymmetric (class-dependent) flips, seeded.

Both models flip an *exact* number of labels, ``round(rate * m)`` of the ``m`` eligible
examples, chosen uniformly without replacement, so the realised rate is as close to the
requested one as integer counts allow and the same seed always flips the same examples.
A flipped label always differs from the original one.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np

__all__ = ["CIFAR10_ASYM_MAP", "asymmetric_noise", "symmetric_noise"]

#: The standard CIFAR-10 asymmetric map (Patrini et al., 2017): truck -> automobile,
#: bird -> airplane, deer -> horse, cat <-> dog.
CIFAR10_ASYM_MAP: dict[int, int] = {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}


def _check(labels: np.ndarray, rate: float, num_classes: int) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"`labels` must be 1-D, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"`labels` must hold integer class ids, got dtype {arr.dtype}")
    if isinstance(num_classes, bool) or int(num_classes) != num_classes or num_classes < 2:
        raise ValueError(f"`num_classes` must be an integer >= 2, got {num_classes!r}")
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        raise ValueError(
            f"`labels` must lie in [0, {num_classes}), got range [{arr.min()}, {arr.max()}]"
        )
    ok = isinstance(rate, numbers.Real) and not isinstance(rate, bool)
    if not (ok and np.isfinite(rate) and 0.0 <= rate <= 1.0):
        raise ValueError(f"`rate` must be a number in [0, 1], got {rate!r}")
    return arr.astype(np.int64)


def symmetric_noise(
    labels: np.ndarray, rate: float, num_classes: int, seed: int = 0
) -> tuple[np.ndarray, float]:
    """Flip a share ``rate`` of the labels to a uniformly random *other* class.

    Parameters
    ----------
    labels : ndarray of int, shape (n,)
        Clean labels in ``[0, num_classes)``.
    rate : float
        Share of examples to flip, in ``[0, 1]``. Exactly ``round(rate * n)`` labels change.
        (Some papers instead redraw a share ``rate`` uniformly over *all* classes, which
        realises ``rate * (1 - 1/C)``; pass ``rate * (1 - 1/C)`` here to reproduce that.)
    num_classes : int
        Number of classes ``C >= 2``.
    seed : int
        Seed; the same seed gives the same noisy labels.

    Returns
    -------
    noisy : ndarray of int64, shape (n,)
        Noisy labels.
    realised_rate : float
        ``mean(noisy != labels)``.
    """
    clean = _check(labels, rate, num_classes)
    rng = np.random.default_rng(seed)
    n = clean.shape[0]
    k = round(float(rate) * n)
    noisy = clean.copy()
    flip = rng.choice(n, size=k, replace=False)
    # an offset in [1, C-1] added modulo C gives a uniformly random different class
    offsets = rng.integers(1, num_classes, size=k)
    noisy[flip] = (clean[flip] + offsets) % num_classes
    realised = float(np.mean(noisy != clean)) if n else 0.0
    return noisy, realised


def asymmetric_noise(
    labels: np.ndarray,
    rate: float,
    num_classes: int,
    seed: int = 0,
    mapping: Mapping[int, int] | str | None = None,
) -> tuple[np.ndarray, float]:
    """Flip a share ``rate`` of each source class to its paired class.

    Parameters
    ----------
    labels : ndarray of int, shape (n,)
        Clean labels in ``[0, num_classes)``.
    rate : float
        Share of each *source* class to flip, in ``[0, 1]``: exactly ``round(rate * n_c)``
        examples of each source class ``c`` get label ``mapping[c]``. Classes that are not
        sources keep their labels, so the overall realised rate can be lower than ``rate``
        (for the CIFAR-10 map, about ``rate / 2``).
    num_classes : int
        Number of classes ``C >= 2``.
    seed : int
        Seed; the same seed gives the same noisy labels.
    mapping : dict, "cifar10", "next" or None
        Source class -> target class. ``"cifar10"`` is :data:`CIFAR10_ASYM_MAP`; ``"next"``
        maps ``c -> (c + 1) mod C``. ``None`` means ``"cifar10"`` when ``C == 10`` and
        ``"next"`` otherwise.

    Returns
    -------
    noisy : ndarray of int64, shape (n,)
    realised_rate : float
        ``mean(noisy != labels)`` over all examples.
    """
    clean = _check(labels, rate, num_classes)
    if mapping is None:
        mapping = "cifar10" if num_classes == 10 else "next"
    if isinstance(mapping, str):
        if mapping == "cifar10":
            if num_classes != 10:
                raise ValueError(f"mapping='cifar10' needs num_classes=10, got {num_classes}")
            table = dict(CIFAR10_ASYM_MAP)
        elif mapping == "next":
            table = {c: (c + 1) % num_classes for c in range(num_classes)}
        else:
            raise ValueError(f"`mapping` must be a dict, 'cifar10' or 'next', got {mapping!r}")
    else:
        table = {int(k): int(v) for k, v in dict(mapping).items()}
    for src, dst in table.items():
        if not (0 <= src < num_classes and 0 <= dst < num_classes) or src == dst:
            raise ValueError(
                f"`mapping` pair {src} -> {dst} is invalid: classes must differ and lie in "
                f"[0, {num_classes})"
            )
    rng = np.random.default_rng(seed)
    noisy = clean.copy()
    for src in sorted(table):
        members = np.flatnonzero(clean == src)
        k = round(float(rate) * members.size)
        if k:
            noisy[rng.choice(members, size=k, replace=False)] = table[src]
    realised = float(np.mean(noisy != clean)) if clean.size else 0.0
    return noisy, realised
