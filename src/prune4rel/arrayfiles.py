"""Reading ``.npy`` and ``.npz`` files given by users, with checks and clear errors.

A file's kind is told by its first bytes (a zip archive for ``.npz``, the NumPy magic for
``.npy``), not by its name, so a directory, an empty file, random bytes, an ``.npz`` where
an ``.npy`` is expected (or the reverse) and a truncated ``.npy`` are each a
:class:`SignalsFileError` that says which, instead of NumPy's messages about pickles,
string dtypes or mmap lengths.
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path

import numpy as np
import numpy.lib.format as fmt

__all__ = ["SignalsFileError", "file_kind", "open_npy", "read_npz"]

_MAGIC = {b"PK\x03\x04": "npz", b"PK\x05\x06": "npz", b"\x93NUMPY": "npy"}


class SignalsFileError(ValueError):
    """A signals or array file is missing, not of its kind, corrupt, truncated or does not
    match the schema."""


def file_kind(src: Path, what: str) -> str:
    """"npz" or "npy" from the first bytes of ``src``, else why it is neither; a
    SignalsFileError for a missing path or a directory."""
    if src.is_dir():
        raise SignalsFileError(f"{what} {src} is a directory, not a file")
    if not src.is_file():
        raise SignalsFileError(f"{what} not found: {src}")
    with open(src, "rb") as fh:
        head = fh.read(6)
    if not head:
        return "the file is empty"
    kind = _MAGIC.get(head[:4], _MAGIC.get(head))
    return kind or f"not an .npz or .npy file (it starts with the bytes {head!r})"


def read_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every array of a plain ``.npz`` archive (no pickles), loaded.

    Raises
    ------
    SignalsFileError
        When the file is missing, a directory, not an ``.npz`` archive, corrupt, or holds
        Python objects.
    """
    src = Path(path)
    kind = file_kind(src, ".npz file")
    if kind != "npz":
        what = "a single .npy array" if kind == "npy" else kind
        raise SignalsFileError(f"{src} is not an .npz archive of arrays: {what}")
    try:
        with np.load(src, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError) as exc:
        raise SignalsFileError(f"cannot read {src} as an .npz archive of arrays ({exc})") from exc


def open_npy(path: str | os.PathLike[str]) -> np.ndarray:
    """A ``.npy`` array, memory-mapped read-only, after checking its header and length.

    Raises
    ------
    SignalsFileError
        When the file is missing, a directory, not a ``.npy`` file (e.g. an ``.npz``
        archive), holds Python objects, or is shorter than its header says (truncated).
    """
    src = Path(path)
    kind = file_kind(src, ".npy file")
    if kind == "npz":
        raise SignalsFileError(
            f"{src} is an .npz archive, not a single .npy array: save the (n, d) array with "
            "np.save(path, array)"
        )
    if kind != "npy":
        raise SignalsFileError(f"{src} is not a .npy file: {kind}")
    try:
        with open(src, "rb") as fh:
            version = fmt.read_magic(fh)
            read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, _, dtype = read(fh)
            offset = fh.tell()
    except (ValueError, OSError, EOFError) as exc:
        raise SignalsFileError(f"{src}: unreadable .npy header ({exc})") from exc
    if dtype.hasobject:
        raise SignalsFileError(f"{src} holds Python objects (dtype {dtype}), not numbers")
    expected = offset + math.prod(shape) * dtype.itemsize
    size = src.stat().st_size
    if size < expected:
        raise SignalsFileError(
            f"{src} is truncated: its header says shape {tuple(shape)} {dtype} ({expected} bytes "
            f"with the header), the file has {size} bytes"
        )
    return np.load(src, mmap_mode="r", allow_pickle=False)
