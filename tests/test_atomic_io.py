"""Atomic writes: the umask decides the mode, and killed writers' temporaries are cleaned."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from prune4rel._io import (
    atomic_path,
    atomic_save_npy,
    atomic_write_json,
    atomic_write_text,
    current_umask,
    file_mode,
    remove_stale_temporaries,
)


@pytest.fixture
def umask():
    """Set the process umask for a test and restore it afterwards."""
    before = os.umask(0o022)
    os.umask(before)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(before)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    assert current_umask() == mask and file_mode() == mode
    atomic_write_text(tmp_path / "a.txt", "x")
    atomic_write_json(tmp_path / "b.json", {"a": 1})
    atomic_save_npy(tmp_path / "c.npy", np.arange(3))
    for name in ("a.txt", "b.json", "c.npy"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    dest = tmp_path / "out.txt"
    atomic_write_text(dest, "old")
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert dest.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_of_dead_writers_are_removed_and_nothing_else(tmp_path):
    import socket

    host = "".join(c if c.isalnum() or c in "_-" else "_" for c in socket.gethostname())
    dest = tmp_path / "signals.npz"
    dead = tmp_path / f".signals.npz.{host}-{_dead_pid()}.abcd1234.tmp"
    alive = tmp_path / f".signals.npz.{host}-{os.getpid()}.efgh5678.tmp"
    other_host = tmp_path / f".signals.npz.elsewhere-{_dead_pid()}.ijkl9012.tmp"
    old_legacy = tmp_path / ".signals.npz.q1w2e3r4.tmp"
    new_legacy = tmp_path / ".signals.npz.z9x8c7v6.tmp"
    other_output = tmp_path / f".subset.npy.{host}-{_dead_pid()}.mnop3456.tmp"
    users_file = tmp_path / "signals.npz.mine.tmp"
    for path in (dead, alive, other_host, old_legacy, new_legacy, other_output, users_file):
        path.write_bytes(b"x")
    day_ago = time.time() - 2 * 24 * 3600
    os.utime(old_legacy, (day_ago, day_ago))
    removed = remove_stale_temporaries(dest)
    assert sorted(removed) == sorted([dead, old_legacy])
    for kept in (alive, other_host, new_legacy, other_output, users_file):
        assert kept.exists(), kept.name


def test_a_killed_writer_leaves_a_temporary_that_the_next_write_removes(tmp_path):
    dest = tmp_path / "big.bin"
    script = textwrap.dedent(f"""
        import sys, time
        from prune4rel._io import atomic_path
        with atomic_path({str(dest)!r}) as tmp:
            tmp.write_bytes(b"0" * 1_000_000)
            print("writing", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    leftovers = list(tmp_path.glob(".big.bin.*.tmp"))
    assert len(leftovers) == 1 and not dest.exists()
    atomic_write_text(dest, "done")
    assert dest.read_text() == "done"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.bin"]


def test_temporary_names_with_glob_characters_are_matched_literally(tmp_path):
    dest = tmp_path / "run[1].json"
    atomic_write_json(dest, [1])
    assert Path(dest).read_text().strip().startswith("[")
