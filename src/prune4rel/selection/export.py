"""A :class:`Selection` back in the user's stack: a torch ``Subset`` or sampler, a Hugging Face
``datasets.Dataset``, or a CSV / Parquet table of the selected examples.

In a table, ``rank`` is the 1-based position in ``Selection.indices`` (pick order for greedy
methods, best score first for score-based ones), ``index`` the dataset row, ``id`` the
user's own id of that row (when given) and ``score`` the selection's gain for it.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch.utils.data import Dataset, Subset, SubsetRandomSampler

from prune4rel._io import atomic_path, atomic_write_text
from prune4rel.selection.base import Selection

__all__ = [
    "selection_table",
    "to_hf_dataset",
    "to_sampler",
    "to_subset",
    "write_selection_csv",
    "write_selection_parquet",
]

T = TypeVar("T")


def _indices(selection: Selection, size: int | None = None, name: str = "dataset") -> np.ndarray:
    """The selected indices as int64 (k,), checked against a container of ``size`` rows."""
    if not isinstance(selection, Selection):
        raise ValueError(f"`selection` must be a prune4rel Selection, got {type(selection).__name__}")
    idx = np.asarray(selection.indices)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer) or (idx.size and idx.min() < 0):
        raise ValueError(f"`selection.indices` must be non-negative ints (k,), got {idx.dtype} {idx.shape}")
    if size is not None and idx.size and idx.max() >= size:
        raise ValueError(
            f"`{name}` has {size} rows but the selection holds index {idx.max()}: "
            "was it selected on the same data, in the same order?"
        )
    return idx.astype(np.int64)


def to_subset(selection: Selection, dataset: Dataset[T]) -> Subset[T]:
    """The selected examples of a map-style ``dataset``, in the selection's order.

    Raises
    ------
    ValueError
        When ``dataset`` has no length or fewer rows than the largest selected index.
    """
    if not hasattr(dataset, "__len__"):
        raise ValueError("`dataset` must be a map-style dataset with a length")
    return Subset(dataset, _indices(selection, len(dataset)).tolist())


def to_sampler(selection: Selection, seed: int | None = None) -> SubsetRandomSampler:
    """A sampler drawing the selected indices in a fresh random order every epoch.

    Parameters
    ----------
    selection : Selection
    seed : int, optional
        Seeds the sampler's own generator: the sequence of epoch orders is then the same in
        every run. Default: torch's global generator.
    """
    idx = _indices(selection).tolist()
    if seed is None:
        return SubsetRandomSampler(idx)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"`seed` must be an int, got {seed!r}")
    return SubsetRandomSampler(idx, generator=torch.Generator().manual_seed(int(seed)))


def to_hf_dataset(selection: Selection, dataset: Any) -> Any:
    """``dataset.select(indices)`` for a Hugging Face ``datasets.Dataset`` (extra ``[hf]``).

    Rows come in the selection's order; sort the indices first for a faster, contiguous
    Arrow table (``selection.indices.sort()`` on a copy).

    Raises
    ------
    ValueError
        When ``dataset`` is not a ``datasets.Dataset`` (a ``DatasetDict``: pick a split) or
        is shorter than the largest selected index.
    """
    try:
        import datasets
    except ImportError as exc:
        raise ImportError("to_hf_dataset needs Hugging Face datasets: pip install 'prune4rel[hf]'") from exc
    if isinstance(dataset, datasets.DatasetDict):
        raise ValueError(f"`dataset` is a DatasetDict with splits {list(dataset)}: pass one split")
    if not isinstance(dataset, datasets.Dataset):
        raise ValueError(f"`dataset` must be a datasets.Dataset, got {type(dataset).__name__}")
    return dataset.select(_indices(selection, len(dataset)))


def selection_table(selection: Selection, ids: Any = None) -> dict[str, np.ndarray]:
    """The selection as columns ``rank``, ``index``, (``id``,) ``score``, each of length k.

    Parameters
    ----------
    selection : Selection
    ids : array-like, shape (n,), optional
        The user's id of every dataset row (ints or strings); ``id`` is ``ids[index]``.

    Returns
    -------
    dict of str to ndarray
        ``rank`` int64 (1 = first in ``selection.indices``), ``index`` int64, ``id`` (when
        ``ids`` is given), ``score`` float64 (``selection.gains``).

    Raises
    ------
    ValueError
        When ``gains`` and ``indices`` differ in length, or ``ids`` is not 1-D or too short.
    """
    idx = _indices(selection)
    gains = np.asarray(selection.gains, dtype=np.float64)
    if gains.shape != idx.shape:
        raise ValueError(f"`selection.gains` has shape {gains.shape}, `indices` {idx.shape}")
    table = {"rank": np.arange(1, idx.size + 1, dtype=np.int64), "index": idx}
    if ids is not None:
        id_array = np.asarray(ids)
        if id_array.ndim != 1:
            raise ValueError(f"`ids` must be 1-D (one id per dataset row), got shape {id_array.shape}")
        _indices(selection, id_array.shape[0], "ids")
        table["id"] = id_array[idx]
    table["score"] = gains
    return table


def write_selection_csv(
    selection: Selection, path: str | os.PathLike[str], ids: Any = None
) -> Path:
    """Write :func:`selection_table` as CSV (header row, scores round-trip exactly), atomically."""
    table = selection_table(selection, ids)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(list(table))
    writer.writerows(zip(*(column.tolist() for column in table.values())))
    atomic_write_text(path, text.getvalue())
    return Path(path)


def write_selection_parquet(
    selection: Selection, path: str | os.PathLike[str], ids: Any = None
) -> Path:
    """Write :func:`selection_table` as a Parquet file, atomically (extra ``[hf]``: pyarrow)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError("write_selection_parquet needs pyarrow: pip install 'prune4rel[hf]'") from exc
    table = pa.table(selection_table(selection, ids))
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)
