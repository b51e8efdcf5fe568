"""Argument checks shared by the datasets and loaders, each raising ValueError naming the argument."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["check_class_names", "check_limit", "check_num_classes", "infer_num_classes"]


def check_limit(name: str, value: int | None) -> None:
    """Reject anything but None or a positive integer (``max_train``, ``workers``, ...).

    Raises
    ------
    ValueError
        Naming ``name`` and the offending value.
    """
    if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
        raise ValueError(f"`{name}` must be a positive integer or None, got {value!r}")


def check_num_classes(value: Any) -> int:
    """``num_classes`` as an int, at least 2.

    Raises
    ------
    ValueError
        For a bool, a non-integer or a value below 2.
    """
    if isinstance(value, bool) or int(value) != value:
        raise ValueError(f"`num_classes` must be an integer, got {value!r}")
    if int(value) < 2:
        raise ValueError(f"`num_classes` must be >= 2, got {int(value)}")
    return int(value)


def check_class_names(names: Sequence[str] | None, num_classes: int) -> tuple[str, ...] | None:
    """``class_names`` as a tuple of str with one name per class (None stays None).

    Raises
    ------
    ValueError
        When the number of names differs from ``num_classes``.
    """
    if names is None:
        return None
    out = tuple(str(s) for s in names)
    if len(out) != num_classes:
        raise ValueError(f"`class_names` has {len(out)} names for {num_classes} classes")
    return out


def infer_num_classes(*labels: Any) -> int:
    """``1 +`` the largest class id over the given label arrays (None skipped), at least 2.

    Raises
    ------
    ValueError
        When the labels are empty or not integers.
    """
    joined = np.concatenate([np.asarray(y).ravel() for y in labels if y is not None])
    if joined.size == 0 or not np.issubdtype(joined.dtype, np.integer):
        raise ValueError("cannot infer `num_classes`: labels are empty or not integers")
    return max(2, int(joined.max()) + 1)
