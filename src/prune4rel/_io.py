"""Atomic file writes shared by every layer that persists results.

A result file is first written next to its destination under a temporary name, flushed to
disk, then renamed over the destination with :func:`os.replace`, which is atomic on POSIX
and Windows. An interrupted job therefore leaves either the old file or the new one, never a
truncated one. The finished file gets the mode a plain ``open`` would give (``0o666`` minus
the umask: 0644 under umask 022), not the private 0600 of the temporary file.

A temporary file is named ``.<name>.<host>-<pid>.<random>.tmp``. A writer killed before its
rename leaves one behind; the next write of the same destination removes those whose
process is gone (same host, pid no longer running), so a crash loop cannot fill the disk.
"""

from __future__ import annotations

import glob
import json
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "ResumeWarning",
    "atomic_path",
    "atomic_save_npy",
    "atomic_write_json",
    "atomic_write_text",
    "current_umask",
    "file_mode",
    "remove_stale_temporaries",
]


class ResumeWarning(UserWarning):
    """A stage output, checkpoint or cache file could not be read and is being recomputed."""


#: Temporary files of writers from before the host-pid naming are removed after this long.
_LEGACY_TMP_AGE = 24 * 3600.0


def current_umask() -> int:
    """The process umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no way to read it without setting it: restore at once
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode of a new regular file under the current umask (0644 under umask 022)."""
    return 0o666 & ~current_umask()


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(dest: Path) -> list[Path]:
    """Remove the temporary files that killed writers of ``dest`` left in its folder.

    Only files named as :func:`atomic_path` names them are considered: those of this host
    whose writer process no longer runs, and unnamed-writer ones (from before the host-pid
    naming) older than a day. Returns the removed paths.
    """
    removed = []
    own = re.compile(re.escape(f".{dest.name}.") + r"(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)\.[^/]*\.tmp$")
    legacy = re.compile(re.escape(f".{dest.name}.") + r"[A-Za-z0-9_]{8}[^/]*\.tmp$")
    host = _host()
    for candidate in dest.parent.glob(f".{glob.escape(dest.name)}.*.tmp"):
        match = own.match(candidate.name)
        if match:
            stale = match["host"] == host and not _pid_alive(int(match["pid"]))
        else:
            try:
                age = time.time() - candidate.stat().st_mtime
            except OSError:
                continue
            stale = legacy.match(candidate.name) is not None and age > _LEGACY_TMP_AGE
        if stale:
            try:
                candidate.unlink()
                removed.append(candidate)
            except OSError:
                pass
    return removed



@contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder; on success rename it to ``path``.

    The finished file gets the umask's mode (:func:`file_mode`). Temporary files left by
    killed writers of the same destination are removed first
    (:func:`remove_stale_temporaries`).

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
    remove_stale_temporaries(dest)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{dest.name}.{_host()}-{os.getpid()}.", suffix=suffix + ".tmp", dir=dest.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode())
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
