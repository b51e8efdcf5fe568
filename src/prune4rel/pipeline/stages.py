"""The three stages of a run, each with its output files: warm-up, selection, training.

Every stage output carries the hash of the configuration it depends on; with ``resume`` a
stage whose output carries the same hash is skipped. The warm-up and training continue
from their per-epoch checkpoints (:mod:`prune4rel.pipeline.checkpoints`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from prune4rel._io import atomic_save_npy, atomic_write_json
from prune4rel.config import TrainConfig, WarmupConfig, to_plain
from prune4rel.data import NoisyDataset
from prune4rel.learners import Callback, EpochRecorder, Learner, get_learner
from prune4rel.metrics import index_digest, noise_rate
from prune4rel.neighbors import CSRGraph
from prune4rel.pipeline.checkpoints import (
    EpochLog,
    UnusableCheckpoint,
    WarmupCheckpoint,
    read_json,
    resumable,
    warn_redo,
)
from prune4rel.selection import Prune4ReL, get_selector, selector_class
from prune4rel.signals import Signals, SignalsFileError
from prune4rel.warmup import warmup as run_warmup_training

__all__ = [
    "GraphCache", "full_subset_stage", "selection_stage", "selector_params", "training_stage", "warmup_stage",
]


def _learner(name: str, model: str, params: Mapping[str, Any], device: torch.device, seed: int) -> Learner:
    return get_learner(name, model=model, device=device, seed=seed, **params)


def warmup_stage(
    dataset: NoisyDataset, warmup: WarmupConfig, seed: int, device: torch.device, paths: dict[str, Path],
    stage_hash: str, resume: bool, progress: bool, callbacks: Sequence[Callback],
) -> Signals:
    """Warm up (or reuse ``paths["signals"]`` when it carries ``stage_hash``) and return the
    Signals. The warm-up checkpoints every epoch to ``paths["ckpt"]``, continues from a
    matching checkpoint, and removes it once the Signals are written."""
    path, ckpt = paths["signals"], paths["ckpt"]
    if resume and path.is_file():
        try:
            signals = Signals.load(path)
        except SignalsFileError as exc:
            warn_redo(path, f"is unreadable ({exc})")
        else:
            if signals.meta.get("config_hash") == stage_hash and signals.n == dataset.n:
                ckpt.unlink(missing_ok=True)
                return signals

    def run(learner: Learner, state: dict[str, Any] | None) -> tuple[Signals, float]:
        recorder, seconds = EpochRecorder(), 0.0
        if state is not None:
            try:
                recorder.load_state_dict(state["recorder"])
                seconds = float(state["seconds"])
            except (KeyError, TypeError, ValueError) as exc:
                raise UnusableCheckpoint(f"no usable warm-up histories: {exc}") from None
            if recorder.epochs != state.get("epoch") or recorder.losses.shape[1:] != (dataset.n,):
                raise UnusableCheckpoint(
                    f"warm-up histories of shape {recorder.losses.shape} after epoch {state.get('epoch')}"
                )
        saver = WarmupCheckpoint(ckpt, stage_hash, seconds, recorder)
        signals = run_warmup_training(
            learner, dataset, warmup.epochs, progress=progress, callbacks=[saver, *callbacks],
            recorder=recorder,
        )
        return signals, saver.seconds

    make = partial(_learner, warmup.learner, warmup.model, warmup.params, device, seed)
    signals, seconds = resumable(ckpt, stage_hash, resume, make, run)
    signals = replace(signals, meta={**signals.meta, "config_hash": stage_hash, "seconds": round(seconds, 3)})
    signals.save(path)
    ckpt.unlink(missing_ok=True)
    return signals


def selector_params(method: str, user: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """The selector's parameters as hashed and recorded: the user's, plus the run's seed."""
    params = {k: v for k, v in user.items() if k != "progress"}
    if "seed" in selector_class(method).param_rules and "seed" not in params:
        params["seed"] = seed
    return params


class GraphCache:
    """The neighbour graphs of one warm-up's Signals, each built once and shared by every
    graph selector (Prune4ReL and its variants) whose :meth:`~Prune4ReL.graph_settings` match:
    a grid over fractions and selectors builds one graph instead of one per selection."""

    def __init__(self, signals: Signals) -> None:
        self.signals = signals
        self._graphs: dict[str, CSRGraph | None] = {}

    def lookup(self, selector: Prune4ReL) -> tuple[CSRGraph | None, dict[str, Any]]:
        """The graph ``selector`` would build (None where it computes dense rows) and what to
        record about it: ``graph_seconds`` spent building it for this selection (0 when
        reused) and ``graph_reused``."""
        key = json.dumps(selector.graph_settings(), sort_keys=True, default=str)
        if key in self._graphs:
            return self._graphs[key], {"graph_seconds": 0.0, "graph_reused": True}
        start = time.perf_counter()
        graph = self._graphs[key] = selector.graph_for(self.signals)
        return graph, {"graph_seconds": round(time.perf_counter() - start, 4), "graph_reused": False}


def selection_stage(
    signals: Signals, method: str, params: dict[str, Any], fraction: float, device: torch.device,
    paths: tuple[Path, Path], stage_hash: str, resume: bool, progress: bool, graphs: GraphCache | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Select (or reuse the subset files when they carry ``stage_hash``), on a graph from
    ``graphs`` when the selector builds one."""
    npy, meta_path = paths
    if resume:
        meta = read_json(meta_path)
        if meta is not None and meta.get("config_hash") == stage_hash and npy.is_file():
            try:
                indices = np.load(npy, allow_pickle=False)
            except (OSError, ValueError) as exc:
                warn_redo(npy, f"cannot be read ({exc})")
            else:
                same = index_digest(indices) == meta.get("indices")
                if same and indices.shape == (meta.get("subset_size"),):
                    return indices.astype(np.int64), meta
                warn_redo(npy, "does not match its .json record")
    selector = get_selector(method, **params)
    run_settings = {"device": str(device), "progress": progress}
    selector.set_params(**{
        k: v for k, v in run_settings.items()
        if k in selector.param_rules and (k == "progress" or k not in params)
    })
    graph_info: dict[str, Any] = {}
    if graphs is not None and isinstance(selector, Prune4ReL):
        graph, graph_info = graphs.lookup(selector)
        selection = selector.select(signals, fraction, graph=graph)
    else:
        selection = selector.select(signals, fraction)
    indices = np.asarray(selection.indices, dtype=np.int64)
    meta = {
        "config_hash": stage_hash, "method": method, "params": params, "fraction": fraction,
        "resolved_params": to_plain({k: v for k, v in selection.params.items() if k != "progress"}),
        "subset_size": int(indices.size), "indices": index_digest(indices), "n": signals.n,
        "objective": selection.objective, "seconds": round(selection.seconds, 4),
        "subset_noise_rate": noise_rate(signals.labels, signals.clean_labels, indices),
        # what the selector reports about itself in 0-d extras, e.g. prune4rel's backend and the tau used
        "selection_info": {
            k: np.asarray(v).item() for k, v in selection.extras.items() if np.ndim(v) == 0
        },
        **graph_info,
    }
    atomic_save_npy(npy, indices)
    atomic_write_json(meta_path, meta)
    return indices, meta


def full_subset_stage(
    dataset: NoisyDataset, method: str, fraction: float, paths: tuple[Path, Path], stage_hash: str,
    resume: bool,
) -> np.ndarray:
    """The full-data reference's subset (every index), its files written unless up to date."""
    npy, meta_path = paths
    subset = np.arange(dataset.n, dtype=np.int64)
    meta = read_json(meta_path) if resume else None
    if meta is None or meta.get("config_hash") != stage_hash or not npy.is_file():
        atomic_save_npy(npy, subset)
        atomic_write_json(meta_path, {
            "config_hash": stage_hash, "method": method, "params": {}, "fraction": fraction,
            "subset_size": int(subset.size), "indices": index_digest(subset), "n": dataset.n,
            "objective": None, "seconds": 0.0, "subset_noise_rate": dataset.noise_rate(),
        })
    return subset


def training_stage(
    dataset: NoisyDataset, subset: np.ndarray, train: TrainConfig, seed: int, device: torch.device,
    paths: dict[str, Path], stage_hash: str, resume: bool, progress: bool, callbacks: Sequence[Callback],
) -> tuple[list[dict[str, Any]], float | None, float]:
    """Train on ``subset``, resuming from a matching checkpoint.

    Returns
    -------
    records : list of dict
        One metrics record per epoch.
    relabel_acc : float or None
        Final re-labeling accuracy on the subset.
    seconds : float
        Training wall time, summed over interrupted sessions.
    """

    def run(
        learner: Learner, state: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], float | None, float]:
        records: list[dict[str, Any]] = []
        seconds = 0.0
        if state is not None:
            try:
                records, seconds = list(state["metrics"]), float(state["seconds"])
            except (KeyError, TypeError, ValueError) as exc:
                raise UnusableCheckpoint(f"no usable metrics: {exc}") from None
        log = EpochLog(dataset, stage_hash, paths["ckpt"], paths["metrics"], records, seconds)
        # the config hash covers the learner, its parameters, the epochs and the subset, so a
        # matching checkpoint fits this fit call unless it was damaged
        learner.fit(dataset, subset, train.epochs, progress=progress, callbacks=[log, *callbacks])
        log.write_metrics()
        relabel = learner.relabel_accuracy(subset) if dataset.clean_labels is not None else None
        return log.records, relabel, log.seconds

    make = partial(_learner, train.learner, train.model, train.params, device, seed)
    return resumable(paths["ckpt"], stage_hash, resume, make, run)
