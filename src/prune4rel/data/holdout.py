"""A test set held out of the training rows, for layouts that come without one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["HoldOut", "clean_where_known", "hold_out"]


def clean_where_known(given: np.ndarray, clean: np.ndarray | None) -> np.ndarray:
    """The labels to test against: ``clean`` where known (>= 0), else the ``given`` ones."""
    return given if clean is None else np.where(clean >= 0, clean, given)


@dataclass(frozen=True)
class HoldOut:
    """A seeded split of the training rows.

    Attributes
    ----------
    test_rows, train_rows : ndarray of int64
        Sorted row indices.
    exact : bool
        Whether every held-out row has a clean label.
    tag : str
        The test set's name after the dataset's: ``holdout<m>-seed<seed>``, with
        ``-noisylabels`` unless ``exact``.
    """

    test_rows: np.ndarray
    train_rows: np.ndarray
    exact: bool
    tag: str


def hold_out(n: int, clean: np.ndarray | None, test_size: float, seed: int, what: str) -> HoldOut:
    """Hold out a seeded random ``test_size`` share (at least one row) of ``n`` rows.

    Parameters
    ----------
    n : int
        Training rows.
    clean : ndarray of int, shape (n,), or None
        Clean labels, -1 where unknown.
    test_size : float
        In (0, 1).
    seed : int
    what : str
        The rows' source, in errors (e.g. the CSV's path).

    Raises
    ------
    ValueError
        For a ``test_size`` outside (0, 1), or too few rows to keep one for training.
    """
    if not (isinstance(test_size, float) and 0.0 < test_size < 1.0):
        raise ValueError(f"`test_size` must be a float in (0, 1), got {test_size!r}")
    m = max(1, round(test_size * n))
    if m >= n:
        raise ValueError(f"{what} has {n} rows: too few to hold out a test set")
    perm = np.random.default_rng(seed).permutation(n)
    test_rows = np.sort(perm[:m])
    exact = clean is not None and bool(np.all(clean[test_rows] >= 0))
    tag = f"holdout{m}-seed{seed}" + ("" if exact else "-noisylabels")
    return HoldOut(test_rows, np.sort(perm[m:]), exact, tag)
