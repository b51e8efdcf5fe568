"""File locks: a second holder is refused with the first one's name, a dead holder's lock is
taken over, the lock file follows the umask and goes away on release."""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from prune4rel._lock import LockedError, file_lock

SRC = Path(__file__).resolve().parents[1] / "src"
HOLD = (
    "import sys, time\n"
    "from prune4rel._lock import file_lock\n"
    "with file_lock(sys.argv[1], 'test'):\n"
    "    print('locked', flush=True)\n"
    "    time.sleep(600)\n"
)


def hold_in_subprocess(lock: Path) -> subprocess.Popen[str]:
    """A process that takes ``lock`` and sleeps; returns once it holds it."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cmd = [sys.executable, "-c", HOLD, str(lock)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_holder_is_refused_with_the_first_ones_pid_host_and_start(tmp_path):
    lock = tmp_path / "x.lock"
    with file_lock(lock, "thing A"):
        with pytest.raises(LockedError, match=r"thing A is in use by pid \d+ on host") as info:
            with file_lock(lock, "thing A"):
                pass
        assert info.value.holder.pid == os.getpid()
        assert info.value.holder.host == socket.gethostname()
        assert info.value.holder.since is not None and "T" in info.value.holder.since
    assert not lock.exists()  # removed on release


def test_the_lock_is_released_when_the_block_raises(tmp_path):
    lock = tmp_path / "x.lock"
    with pytest.raises(RuntimeError), file_lock(lock, "thing"):
        raise RuntimeError("boom")
    with file_lock(lock, "thing"):  # free again
        pass


def test_a_waiting_writer_gets_the_lock_once_it_is_released(tmp_path):
    lock = tmp_path / "x.lock"
    order = []
    held = threading.Event()

    def first():
        with file_lock(lock, "thing"):
            held.set()
            time.sleep(0.3)
            order.append("first")

    thread = threading.Thread(target=first)
    thread.start()
    held.wait()
    with file_lock(lock, "thing", timeout=30):
        order.append("second")
    thread.join()
    assert order == ["first", "second"]


def test_the_lock_file_follows_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with file_lock(tmp_path / "x.lock", "thing"):
            assert (tmp_path / "x.lock").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)


def test_another_process_holding_it_is_named_and_its_lock_is_taken_over_once_killed(tmp_path):
    lock = tmp_path / "x.lock"
    proc = hold_in_subprocess(lock)
    try:
        with pytest.raises(LockedError, match=rf"pid {proc.pid} on host {socket.gethostname()}"):
            with file_lock(lock, "thing"):
                pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert lock.exists()  # a killed holder cannot remove it, but its lock died with it
    with pytest.warns(UserWarning, match=rf"taking over the lock of thing from pid {proc.pid}"):
        with file_lock(lock, "thing"):
            pass


def test_a_file_system_without_locks_gives_a_warning_and_no_lock(tmp_path, monkeypatch):
    def no_locks(fd, op):
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.warns(UserWarning, match="used without a lock"), file_lock(tmp_path / "x.lock", "thing"):
        pass
    assert not (tmp_path / "x.lock").exists()
