"""Exclusive advisory file locks that say who holds them (POSIX ``flock``).

:func:`file_lock` holds an ``flock`` on a lock file for the duration of a ``with`` block and
writes its holder into it (pid, host, start time) so that a refused writer can name it. The
operating system drops the lock when its process dies, however it dies, so a lock left by a
killed process is free: the next writer takes it over (and says whose it was). On release
the holder removes the lock file while it still holds the lock; a writer that locked a file
that is no longer the one at the path tries again, so two writers never both hold it.

The lock file gets the umask's mode (0644 under umask 022). On NFS, Linux implements
``flock`` with the server's locks; a file system without locks gets a warning and no lock.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["LockHolder", "LockedError", "file_lock"]

_POLL = 0.05


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or held) a lock, as written in its lock file; None where unknown."""

    pid: int | None = None
    host: str | None = None
    since: str | None = None

    def describe(self) -> str:
        """``pid 123 on host h since 2026-01-01T10:00:00+00:00``, or what is known of it."""
        if self.pid is None and self.host is None:
            return "a process that has not written its name yet"
        return f"pid {self.pid} on host {self.host} since {self.since}"


class LockedError(ValueError):
    """Another process holds the lock (``holder`` names it)."""

    def __init__(self, message: str, holder: LockHolder) -> None:
        super().__init__(message)
        self.holder = holder


def _read_holder(fd: int) -> LockHolder | None:
    """The holder written in the open lock file, None when it is empty or unreadable."""
    try:
        raw = os.pread(fd, 4096, 0)
        info = json.loads(raw) if raw.strip() else None
    except (OSError, ValueError):
        return LockHolder()
    if not isinstance(info, dict):
        return None
    pid = info.get("pid")
    return LockHolder(pid if isinstance(pid, int) else None, info.get("host"), info.get("since"))


def _try_lock(path: Path) -> tuple[int, bool]:
    """Open ``path`` and try to lock it: (fd, locked). A lock on a file that is no longer the
    one at ``path`` (its holder removed it on release) counts as not locked, fd closed."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return fd, False
    except OSError:
        os.close(fd)
        raise
    try:
        current = os.stat(path)
    except FileNotFoundError:
        current = None
    if current is None or not os.path.samestat(os.fstat(fd), current):
        os.close(fd)
        return -1, False
    return fd, True


@contextmanager
def file_lock(path: str | os.PathLike[str], what: str, timeout: float = 0.0) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` for the ``with`` block.

    Parameters
    ----------
    path : path-like
        The lock file; its folder must exist. Created when missing, removed on release.
    what : str
        What the lock guards, for messages (e.g. ``"run directory runs/a"``).
    timeout : float
        Seconds to wait for another holder to release it; 0 refuses at once.

    Raises
    ------
    LockedError
        When another process (or another lock in this one) still holds it after
        ``timeout``; the message names the holder: pid, host and since when.
    """
    lock = Path(path)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd, locked = _try_lock(lock)
        except OSError as exc:
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                raise
            warnings.warn(f"cannot lock {lock} ({exc}): {what} is used without a lock", stacklevel=3)
            try:
                yield
            finally:
                if lock.exists() and lock.stat().st_size == 0:  # the empty file opened here
                    lock.unlink()
            return
        if locked:
            break
        if fd >= 0:
            holder = _read_holder(fd) or LockHolder()
            os.close(fd)
            if time.monotonic() >= deadline:
                raise LockedError(
                    f"{what} is in use by {holder.describe()} (lock file {lock}); wait until it "
                    "finishes or stop it (a lock left by a killed process is taken over)",
                    holder,
                )
            time.sleep(_POLL)
    try:
        stale = _read_holder(fd)
        if stale is not None:
            warnings.warn(
                f"taking over the lock of {what} from {stale.describe()}, which ended without "
                f"releasing it ({lock})",
                stacklevel=3,
            )
        since = datetime.now(timezone.utc).isoformat(timespec="seconds")
        info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": since})
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode() + b"\n", 0)
        yield
    finally:
        try:
            lock.unlink()
        except FileNotFoundError:
            pass
        os.close(fd)
