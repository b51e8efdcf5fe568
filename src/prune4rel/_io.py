"""Atomic file writes shared by every layer that persists results.

A result file is first written next to its destination under a temporary name, flushed to
disk, then renamed over the destination with :func:`os.replace`, which is atomic on POSIX
and Windows. An interrupted job therefore leaves either the old file or the new one, never a
truncated one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["ResumeWarning", "atomic_path", "atomic_save_npy", "atomic_write_json", "atomic_write_text"]


class ResumeWarning(UserWarning):
    """A stage output, checkpoint or cache file could not be read and is being recomputed."""


@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; on success rename it to ``path``.

    Parameters
    ----------
    path : path-like
        Final destination. Its parent folder is created when missing.
    suffix : str
        Suffix of the temporary file (some writers, e.g. :func:`numpy.save`, append one
        unless it is already there).
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix + ".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_with(path: str | os.PathLike[str], mode: str, writer: Callable[[IO[Any]], object]) -> None:
    with atomic_path(path) as tmp, open(tmp, mode) as fh:
        writer(fh)


def atomic_save_npy(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Save one array in ``.npy`` format atomically (no pickled objects)."""
    _write_with(path, "wb", lambda fh: np.save(fh, np.asarray(array), allow_pickle=False))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write a text file atomically (UTF-8)."""
    _write_with(path, "w", lambda fh: fh.write(text))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")
