"""The run directory: one data / warm-up / seed setting, one run at a time, a record of its files.

:func:`open_run_dir` locks the directory for the run (:mod:`prune4rel._lock`: a second run
is refused with the holder's pid, host and start time; a lock left by a killed run is
taken over), checks the setting against the directory's ``config.yaml`` and writes the new
one. Every file the run writes is first named in ``manifest.json`` (:meth:`RunDir.file`,
an atomic rewrite), and ``resume=False`` on a directory of another setting deletes exactly
the files the manifest names: a user's own files in the directory are never touched, even
when their names look like the run's.

A directory written before the manifest existed gets one when it is next used, naming the
files of its ``config.yaml``'s setting that are there (only names that setting's run
produces: ``signals.npz``, ``ckpt_warmup.pt`` and the ``subset_*``, ``metrics_*``,
``result_*`` and ``ckpt_*`` files of its methods and fractions).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from prune4rel._io import atomic_write_json, atomic_write_text
from prune4rel._lock import file_lock
from prune4rel.config import RunConfig, fraction_tag
from prune4rel.pipeline.checkpoints import warn_redo

__all__ = ["FULL_METHOD", "LOCK_NAME", "MANIFEST_NAME", "RunDir", "open_run_dir", "run_jobs"]

#: Method name of the full-data reference (fraction 1.0).
FULL_METHOD = "full"
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "prune4rel.manifest"
LOCK_NAME = ".prune4rel.lock"


def run_jobs(methods: Sequence[str], fractions: Sequence[float]) -> list[tuple[str, float]]:
    """The (method, fraction) jobs of a run: every method at every fraction below 1, and the
    full-data reference alone at fraction 1.0."""
    jobs: list[tuple[str, float]] = []
    for fraction in fractions:
        jobs.extend((m, fraction) for m in ((FULL_METHOD,) if fraction == 1.0 else methods))
    return jobs


def _files_of(methods: Sequence[str], fractions: Sequence[float]) -> list[str]:
    """Every file name a run of these methods and fractions can write (config.yaml aside)."""
    names = ["signals.npz", "ckpt_warmup.pt"]
    for method, fraction in run_jobs(methods, fractions):
        tag = f"{method}_{fraction_tag(fraction)}"
        names += [f"subset_{tag}.npy", f"subset_{tag}.json", f"metrics_{tag}.jsonl", f"result_{tag}.json",
                  f"ckpt_{tag}.pt"]
    return names


class RunDir:
    """An open run directory (see :func:`open_run_dir`): where the run's files go."""

    def __init__(self, path: Path, files: Iterable[str]) -> None:
        self.path = path
        self._files = set(files)

    @property
    def files(self) -> list[str]:
        """The names in the manifest, sorted."""
        return sorted(self._files)

    def file(self, name: str) -> Path:
        """The path of the run's file ``name``, named in the manifest before it is returned."""
        if name not in self._files:
            self._files.add(name)
            self.save()
        return self.path / name

    def save(self) -> None:
        """Write the manifest (atomically)."""
        atomic_write_json(self.path / MANIFEST_NAME, {"format": MANIFEST_FORMAT, "files": self.files})

    def remove_recorded(self) -> None:
        """Delete every regular file the manifest names (not a link or folder the user may
        have put in its place), and empty the manifest."""
        for name in self._files:
            try:
                mode = os.lstat(self.path / name).st_mode
            except FileNotFoundError:
                continue
            if stat.S_ISREG(mode):
                (self.path / name).unlink()
        self._files.clear()
        self.save()


def _read_manifest(path: Path) -> list[str] | None:
    """The names of ``path``'s manifest, None when it has none.

    Raises
    ------
    ValueError
        When ``manifest.json`` exists but is not a prune4rel manifest (it is the user's: the
        run will not overwrite it).
    """
    manifest = path / MANIFEST_NAME
    if not manifest.exists():
        return None
    try:
        obj = json.loads(manifest.read_text())
    except (OSError, ValueError):
        obj = None
    names = obj.get("files") if isinstance(obj, dict) and obj.get("format") == MANIFEST_FORMAT else None
    if not isinstance(names, list) or not all(isinstance(n, str) and "/" not in n for n in names):
        raise ValueError(
            f"{manifest} is not a prune4rel manifest (format {MANIFEST_FORMAT!r}); prune4rel keeps "
            "the record of a run directory's files there: move that file or use another directory"
        )
    return names


def _legacy_files(path: Path, old: dict[str, Any]) -> list[str]:
    """The files of a pre-manifest run directory: the names its ``config.yaml`` setting
    produces that exist there."""
    selection = old.get("selection")
    methods = selection.get("methods") if isinstance(selection, dict) else None
    fractions = selection.get("fractions") if isinstance(selection, dict) else None
    if not (isinstance(methods, list) and all(isinstance(m, str) for m in methods)):
        return []
    if not (isinstance(fractions, list) and all(isinstance(f, (int, float)) for f in fractions)):
        return []
    return [name for name in _files_of(methods, fractions) if (path / name).is_file()]


def _differing(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The data / warm-up / seed fields on which two configurations differ."""
    differing = ["seed"] if old.get("seed") != new["seed"] else []
    for section in ("data", "warmup"):
        before = old.get(section)
        before = before if isinstance(before, dict) else {}
        differing += [f"{section}.{k}" for k, v in new[section].items() if before.get(k) != v]
    return differing


@contextmanager
def open_run_dir(out: Path, config: RunConfig, resume: bool) -> Iterator[RunDir]:
    """Lock ``out`` for a run of ``config``, check and write its ``config.yaml``.

    Parameters
    ----------
    out : Path
        The run directory (created when missing).
    config : RunConfig
    resume : bool
        With False, a directory holding another data / warm-up / seed setting is emptied of
        the files its manifest names first.

    Yields
    ------
    RunDir

    Raises
    ------
    ValueError
        When another run uses ``out`` (:class:`~prune4rel._lock.LockedError`, naming it),
        when ``out`` holds a run with other data / warm-up / seed settings and ``resume``
        is True, or when its ``manifest.json`` is not prune4rel's.
    """
    out.mkdir(parents=True, exist_ok=True)
    with file_lock(out / LOCK_NAME, f"run directory {out}"):
        previous = out / "config.yaml"
        old: dict[str, Any] | None = None
        if previous.is_file():
            try:
                loaded = yaml.safe_load(previous.read_text())
            except (OSError, yaml.YAMLError):
                loaded = None
            if isinstance(loaded, dict):
                old = loaded
            else:
                warn_redo(previous, "cannot be read")
        names = _read_manifest(out)
        if names is None:  # a new directory, or one from before the manifest
            names = (["config.yaml"] if old is not None else []) + _legacy_files(out, old or {})
            RunDir(out, names).save()
        run_dir = RunDir(out, names)
        differing = _differing(old, config.to_dict()) if old is not None else []
        if differing and resume:
            raise ValueError(
                f"run directory {out} holds a run with other data / warm-up / seed settings "
                f"(differing: {', '.join(differing)}); use another output directory, or "
                "resume=False (--no-resume) to delete that run's files and start afresh"
            )
        if differing:
            run_dir.remove_recorded()
        atomic_write_text(run_dir.file("config.yaml"), config.to_yaml())
        yield run_dir
