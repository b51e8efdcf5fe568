"""Per-epoch checkpoints of the warm-up and training stages, and resuming from them.

A checkpoint is written atomically after every epoch (learner state, epochs done, the
stage's wall time and its own entries) and carries the stage's configuration hash. A
checkpoint that cannot be read, belongs to another configuration or cannot continue the
stage is ignored with a :class:`~prune4rel._io.ResumeWarning` and the stage starts afresh.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch

from prune4rel._io import ResumeWarning, atomic_path, atomic_write_text
from prune4rel.config import SCHEMA_VERSION
from prune4rel.data import NoisyDataset
from prune4rel.learners import Callback, EpochRecorder, Learner, LearnerStateError

__all__ = [
    "CHECKPOINT_FORMAT",
    "Checkpoint",
    "EpochLog",
    "UnusableCheckpoint",
    "WarmupCheckpoint",
    "read_json",
    "resumable",
    "warn_redo",
]

CHECKPOINT_FORMAT = "prune4rel.checkpoint"
_T = TypeVar("_T")


def warn_redo(path: Path, why: str) -> None:
    """Warn that the stage output or checkpoint at ``path`` is recomputed, and why."""
    warnings.warn(f"{path} {why}; recomputing it", ResumeWarning, stacklevel=3)


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON stage output, or None when missing or unreadable (with a warning)."""
    if not path.is_file():
        return None
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        warn_redo(path, f"cannot be read ({exc})")
        return None
    if not isinstance(obj, dict):
        warn_redo(path, "does not hold a JSON object")
        return None
    return obj


class Checkpoint(Callback):
    """Writes a stage's checkpoint atomically after every epoch: the learner state, the
    epochs done, the stage's wall time so far and the entries of :meth:`extra`."""

    def __init__(self, path: Path, stage_hash: str, seconds: float) -> None:
        self.path, self.stage_hash = path, stage_hash
        self.seconds_before = seconds
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        """Wall time of the stage, summed over interrupted sessions."""
        return self.seconds_before + time.perf_counter() - self.start

    def extra(self) -> dict[str, Any]:
        """The stage's own entries of the checkpoint."""
        return {}

    def on_epoch_end(self, learner: Learner, epoch: int, logs: dict[str, Any]) -> None:
        learner_state = learner.state_dict()
        state = {
            "format": CHECKPOINT_FORMAT, "schema_version": SCHEMA_VERSION, "config_hash": self.stage_hash,
            "epoch": learner_state["fit"]["epoch"], "learner": learner_state, "seconds": self.seconds,
            **self.extra(),
        }
        with atomic_path(self.path) as tmp:
            torch.save(state, tmp)


class WarmupCheckpoint(Checkpoint):
    """The warm-up's checkpoint, with the histories recorded so far."""

    def __init__(self, path: Path, stage_hash: str, seconds: float, recorder: EpochRecorder) -> None:
        super().__init__(path, stage_hash, seconds)
        self.recorder = recorder

    def extra(self) -> dict[str, Any]:
        return {"recorder": self.recorder.state_dict()}


class EpochLog(Checkpoint):
    """Per-epoch test accuracy, metrics file and checkpoint of a training stage."""

    def __init__(
        self, dataset: NoisyDataset, stage_hash: str, ckpt: Path, metrics: Path,
        records: list[dict[str, Any]], seconds: float,
    ) -> None:
        super().__init__(ckpt, stage_hash, seconds)
        self.dataset, self.metrics, self.records = dataset, metrics, records

    def extra(self) -> dict[str, Any]:
        return {"metrics": self.records}

    def on_epoch_end(self, learner: Learner, epoch: int, logs: dict[str, Any]) -> None:
        record = {
            "epoch": len(self.records) + 1,
            "train_loss": float(logs["loss"]),
            "train_acc_given": float(logs["train_acc_given"]),
            "lr": float(logs["lr"]),
            "test_acc": learner.evaluate(self.dataset),
            "relabel_acc": logs.get("relabel_acc"),
            "seconds": float(logs["seconds"]),
            "config_hash": self.stage_hash,
        }
        self.records.append(record)
        super().on_epoch_end(learner, epoch, logs)
        self.write_metrics()

    def write_metrics(self) -> None:
        """Write the records so far to the metrics file, one JSON line per epoch."""
        atomic_write_text(self.metrics, "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.records))


class UnusableCheckpoint(Exception):
    """A checkpoint of the right configuration whose content cannot continue the stage."""


def _load_checkpoint(path: Path, stage_hash: str) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it belongs to ``stage_hash``; None otherwise (with a
    warning when there is a file)."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        warn_redo(path, f"is not a readable checkpoint ({type(exc).__name__}: {exc})")
        return None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        warn_redo(path, "is not a prune4rel checkpoint")
        return None
    if state.get("config_hash") != stage_hash:
        warn_redo(path, f"was written by another configuration (hash {state.get('config_hash')!r})")
        return None
    return state


def _restored(learner: Learner, state: dict[str, Any]) -> Learner:
    """``learner`` set to continue from the checkpoint ``state``."""
    try:
        learner.load_state_dict(state.get("learner", {}))  # checks the format
    except ValueError as exc:
        raise UnusableCheckpoint(str(exc)) from None
    return learner


def resumable(
    ckpt: Path, stage_hash: str, resume: bool, make: Callable[[], Learner],
    run: Callable[[Learner, dict[str, Any] | None], _T],
) -> _T:
    """``run(learner, checkpoint)`` with a new learner from ``make``, set to continue from
    the checkpoint at ``ckpt`` when ``resume`` and it belongs to ``stage_hash``.

    A checkpoint that cannot continue the stage is ignored with a :class:`ResumeWarning`
    and the stage starts afresh: ``run`` raises :class:`UnusableCheckpoint` for its own
    entries; the learner raises :class:`~prune4rel.learners.LearnerStateError` at the
    start of its ``fit``, before any epoch or callback runs.
    """
    state = _load_checkpoint(ckpt, stage_hash) if resume else None
    if state is not None:
        try:
            return run(_restored(make(), state), state)
        except (LearnerStateError, UnusableCheckpoint) as exc:
            warn_redo(ckpt, f"holds no usable state ({exc})")
    return run(make(), None)
