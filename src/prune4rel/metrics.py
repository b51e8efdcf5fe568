"""Small measures shared across layers: the noise rate of a subset and the digest of an index array."""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["index_digest", "noise_rate"]


def noise_rate(
    given: np.ndarray, clean: np.ndarray | None, indices: np.ndarray | None = None
) -> float | None:
    """Share of wrong given labels, over ``indices`` (default all) whose clean label is known.

    Parameters
    ----------
    given : ndarray of int, shape (n,)
        Given (noisy) labels.
    clean : ndarray of int, shape (n,), or None
        True labels; a negative entry means "unknown" (e.g. WebVision rows without a
        verified label) and is left out.
    indices : ndarray of int, shape (m,), optional
        The subset.

    Returns
    -------
    float or None
        None without clean labels, or when no example of the subset has a known one.
    """
    if clean is None:
        return None
    idx = np.arange(len(given)) if indices is None else np.asarray(indices, dtype=np.int64)
    truth = np.asarray(clean)[idx]
    known = truth >= 0
    if not known.any():
        return None
    return float(np.mean(np.asarray(given)[idx][known] != truth[known]))


def index_digest(indices: np.ndarray) -> str:
    """16 hex digits of SHA-256 over the indices as contiguous int64 (order matters).

    This is the ``indices`` entry of a run directory's ``subset_*.json`` and part of the
    training stage's configuration hash, so it must never change.
    """
    arr = np.ascontiguousarray(indices, dtype=np.int64)
    return hashlib.sha256(arr.tobytes()).hexdigest()[:16]
