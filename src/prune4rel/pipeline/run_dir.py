"""Preparing a run directory: one data / warm-up / seed setting per directory."""

from __future__ import annotations

from pathlib import Path

import yaml

from prune4rel._io import atomic_write_text
from prune4rel.config import RunConfig
from prune4rel.pipeline.checkpoints import warn_redo

__all__ = ["STAGE_PATTERNS", "prepare_run_dir"]

#: Every stage output and checkpoint of a run directory (``config.yaml`` aside).
STAGE_PATTERNS = (
    "signals.npz", "subset_*.npy", "subset_*.json", "metrics_*.jsonl", "result_*.json", "ckpt_*.pt",
)


def prepare_run_dir(out: Path, config: RunConfig, resume: bool) -> None:
    """Write ``config.yaml`` into ``out``, refusing to mix two data / warm-up / seed settings.

    Raises
    ------
    ValueError
        When ``out`` holds a run with other data / warm-up / seed settings and ``resume``
        is True; with ``resume`` False that run's stage files are deleted instead.
    """
    previous = out / "config.yaml"
    if previous.is_file():
        try:
            old = yaml.safe_load(previous.read_text())
        except (OSError, yaml.YAMLError):
            old = None
        if not isinstance(old, dict):
            warn_redo(previous, "cannot be read")
            old = config.to_dict()  # nothing to compare with: the stage hashes still guard
        new = config.to_dict()
        differing = ["seed"] if old.get("seed") != new["seed"] else []
        for section in ("data", "warmup"):
            before = old.get(section) if isinstance(old.get(section), dict) else {}
            differing += [f"{section}.{k}" for k, v in new[section].items() if before.get(k) != v]
        if differing and resume:
            raise ValueError(
                f"run directory {out} holds a run with other data / warm-up / seed settings "
                f"(differing: {', '.join(differing)}); use another output directory, or "
                "resume=False (--no-resume) to delete that run's files and start afresh"
            )
        if differing:
            for pattern in STAGE_PATTERNS:
                for stale in out.glob(pattern):
                    stale.unlink()
    atomic_write_text(previous, config.to_yaml())
