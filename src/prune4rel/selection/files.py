"""A selection on disk: an index file and its JSON summary, written and read as one unit.

:func:`write_selection` writes the indices (``.npy``, int64, pick order) and the summary
(the same path with suffix ``.json``) each atomically, both under one lock
(:func:`prune4rel._lock.file_lock` on ``.<name>.lock`` next to them), so two writers of one
path leave one writer's pair, never a mix. The summary names the index file
(``index_file``) and its digest (``indices``, :func:`prune4rel.metrics.index_digest`), as a
run directory's ``subset_*.json`` does. :func:`read_selection` reads either kind of pair and
refuses one whose index file does not match its summary.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from prune4rel._io import atomic_save_npy, atomic_write_json
from prune4rel._lock import file_lock
from prune4rel.metrics import index_digest
from prune4rel.selection.base import Selection

__all__ = ["SelectionFileError", "read_selection", "summary_path", "write_selection"]

#: Seconds a writer waits for another writer of the same path.
WRITE_WAIT = 60.0


class SelectionFileError(ValueError):
    """An index file and its summary that cannot be read, or that do not belong together."""


def summary_path(path: str | os.PathLike[str]) -> Path:
    """The summary of the index file ``path``: the same path with suffix ``.json``."""
    return Path(path).with_suffix(".json")


def write_selection(
    path: str | os.PathLike[str], indices: np.ndarray, summary: dict[str, Any]
) -> dict[str, Any]:
    """Write ``indices`` to ``path`` and ``summary`` next to it (:func:`summary_path`), as one unit.

    Parameters
    ----------
    path : path-like
        The index file (``.npy`` format whatever its suffix; not ``.json``).
    indices : ndarray of int, shape (k,)
    summary : dict
        JSON-serialisable facts about the selection; ``index_file`` and ``indices`` (the
        digest) are added.

    Returns
    -------
    dict
        The summary as written.

    Raises
    ------
    prune4rel._lock.LockedError
        When another writer of ``path`` holds its lock for more than :data:`WRITE_WAIT` s.
    """
    dest = Path(path)
    idx = np.ascontiguousarray(indices, dtype=np.int64)
    record = {**summary, "index_file": dest.name, "indices": index_digest(idx)}
    dest.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(dest.parent / f".{dest.name}.lock", f"selection file {dest}", timeout=WRITE_WAIT):
        atomic_save_npy(dest, idx)
        atomic_write_json(summary_path(dest), record)
    return record


def read_selection(path: str | os.PathLike[str]) -> Selection:
    """Read a selection written by :func:`write_selection` (``prune4rel select``) or a run
    directory's ``subset_*.npy`` / ``.json`` pair.

    Parameters
    ----------
    path : path-like
        The index file or its summary (``.json``).

    Returns
    -------
    Selection
        ``indices`` as written, ``method``, ``params``, ``objective`` and ``seconds`` from
        the summary, ``gains`` NaN (not stored).

    Raises
    ------
    SelectionFileError
        When a file is missing or unreadable, or the index file's digest differs from the
        one its summary names (the two come from different selections).
    """
    given = Path(path)
    meta_path = given if given.suffix == ".json" else summary_path(given)
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise SelectionFileError(f"cannot read the selection summary {meta_path}: {exc}") from None
    if not isinstance(meta, dict):
        raise SelectionFileError(f"{meta_path} does not hold a selection summary (a JSON object)")
    if given.suffix != ".json":
        index_path = given
    elif isinstance(meta.get("index_file"), str):
        index_path = given.with_name(meta["index_file"])
    else:
        index_path = given.with_suffix(".npy")
    try:
        indices = np.load(index_path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SelectionFileError(f"cannot read the index file {index_path}: {exc}") from None
    if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer):
        raise SelectionFileError(f"{index_path} holds {indices.dtype} {indices.shape}, not a 1-d index array")
    digest = index_digest(indices)
    named = meta.get("indices")
    if named is None:
        warnings.warn(f"{meta_path} names no index digest (written by an older prune4rel): "
                      f"{index_path} cannot be checked against it", UserWarning, stacklevel=2)
    elif named != digest:
        raise SelectionFileError(
            f"{index_path} (index digest {digest}) does not match its summary {meta_path} (which names "
            f"{named}): they come from different selections, e.g. two writers of one path; select again"
        )
    return Selection(
        indices=indices.astype(np.int64),
        gains=np.full(indices.shape[0], np.nan),
        objective=meta.get("objective"),
        method=str(meta.get("method", "")),
        params=dict(meta.get("params") or {}),
        seconds=float(meta.get("seconds") or 0.0),
    )
