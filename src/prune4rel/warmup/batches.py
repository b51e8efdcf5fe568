"""Reading a user's batches: inputs, given labels and dataset indices, checked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch

__all__ = ["Batch", "Unpack", "as_indices", "as_labels", "storage_dtype", "unpack_batch"]

_DTYPES = {"float32": np.float32, "float16": np.float16}


class Batch(NamedTuple):
    """One batch: model inputs, given labels (B,) or None, dataset indices (B,) or None."""

    inputs: Any
    labels: Any
    indices: Any


#: A function that splits a loader's batch into ``(inputs, labels or None, indices or None)``.
Unpack = Callable[[Any], tuple[Any, Any, Any]]


def unpack_batch(batch: Any) -> Batch:
    """The default reading of a batch.

    A tensor is the inputs alone; a tuple or list is ``(inputs,)``, ``(inputs, labels)`` or
    ``(inputs, labels, indices)``. Other layouts (e.g. dicts) need an ``unpack`` function.

    Raises
    ------
    ValueError
        For any other layout.
    """
    if isinstance(batch, torch.Tensor):
        return Batch(batch, None, None)
    if isinstance(batch, (tuple, list)) and 1 <= len(batch) <= 3:
        return Batch(*batch, *(None,) * (3 - len(batch)))
    raise ValueError(
        f"cannot read a batch of type {type(batch).__name__}"
        + (f" with {len(batch)} items" if isinstance(batch, (tuple, list)) else "")
        + ": pass `unpack`, a function batch -> (inputs, labels or None, indices or None)"
    )


def storage_dtype(dtype: str) -> type[np.floating[Any]]:
    """``"float32"`` or ``"float16"`` as a numpy type; ValueError naming ``dtype`` otherwise."""
    if dtype not in _DTYPES:
        raise ValueError(f"`dtype` must be one of {sorted(_DTYPES)}, got {dtype!r}")
    return _DTYPES[dtype]


def _numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def as_indices(indices: Any, n: int) -> np.ndarray:
    """Dataset indices of one batch as int64 (B,): 1-D, distinct, in ``[0, n)``.

    Raises
    ------
    ValueError
        Naming ``indices``, otherwise.
    """
    idx = _numpy(indices)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"`indices` must be a 1-D integer array, got shape {idx.shape} dtype {idx.dtype}")
    idx = idx.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"`indices` must lie in [0, n={n}), got values in [{idx.min()}, {idx.max()}]")
    if np.unique(idx).size != idx.size:
        raise ValueError("`indices` repeat within the batch: each example may appear once per batch")
    return idx


def as_labels(labels: Any, size: int, name: str = "labels") -> np.ndarray:
    """Class ids as int64 (size,), non-negative.

    Raises
    ------
    ValueError
        Naming ``name``, for another shape, a non-integer dtype or a negative id.
    """
    y = _numpy(labels)
    if y.shape != (size,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"`{name}` must be {size} integer class ids, got shape {y.shape} dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise ValueError(f"`{name}` holds a negative class id ({y.min()})")
    return y.astype(np.int64)
