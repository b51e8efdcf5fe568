"""One experiment run: :func:`run_experiment` warms up, selects and trains into a run directory."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from prune4rel._io import atomic_write_json
from prune4rel.config import SCHEMA_VERSION, RunConfig, data_key, digest, fraction_tag
from prune4rel.data import NoisyDataset, load_dataset
from prune4rel.devices import resolve_device
from prune4rel.learners import Callback
from prune4rel.metrics import index_digest
from prune4rel.pipeline.checkpoints import read_json
from prune4rel.pipeline.checks import check_config
from prune4rel.pipeline.run_dir import FULL_METHOD, RunDir, open_run_dir, run_jobs
from prune4rel.pipeline.stages import (
    GraphCache,
    full_subset_stage,
    selection_stage,
    selector_params,
    training_stage,
    warmup_stage,
)
from prune4rel.signals import Signals

__all__ = ["FULL_METHOD", "RESULT_KEYS", "run_experiment"]

RESULT_FORMAT = "prune4rel.result"
#: Keys of every ``result_<method>_<fraction>.json``.
RESULT_KEYS = (
    "format", "schema_version", "config_hash", "method", "params", "fraction", "subset_size",
    "n_train", "subset_noise_rate", "train_noise_rate", "test_acc_last", "test_acc_best",
    "best_epoch", "relabel_acc", "test_set", "dataset", "learner", "learner_params", "epochs",
    "warmup_epochs", "seconds", "device", "seed", "data_seed",
)


def run_experiment(
    config: RunConfig,
    out_dir: str | Path,
    resume: bool = True,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
    warmup_callbacks: Sequence[Callback] = (),
) -> dict[str, Any]:
    """Run (or resume) one experiment into ``out_dir``.

    Parameters
    ----------
    config : RunConfig
    out_dir : path
        Run directory (created if missing); see :mod:`prune4rel.pipeline` for its files.
    resume : bool
        Skip stages whose outputs exist with a matching config hash and continue an
        interrupted warm-up or training from its checkpoint. False recomputes everything,
        after deleting the files its manifest names when ``out_dir`` holds a run of other
        data / warm-up / seed settings (see :mod:`prune4rel.pipeline.run_dir`).
    progress : bool
        Progress bars for every stage.
    callbacks : sequence of Callback
        Extra :class:`~prune4rel.learners.Callback` objects for every training ``fit``
        (after the run's own per-epoch logger and checkpointer).
    warmup_callbacks : sequence of Callback
        The same for the warm-up ``fit`` (after its recorder and checkpointer).

    Returns
    -------
    dict
        ``run_dir``, ``signals`` (path or None when only fraction 1.0 was asked) and
        ``results``: the result dicts, in (fraction, method) order.

    Raises
    ------
    ValueError
        Before any work, for parameters that a learner or selector rejects
        (:func:`~prune4rel.pipeline.check_config`) or an unavailable device; then when
        another run uses ``out_dir`` (:class:`~prune4rel._lock.LockedError`, naming its pid,
        host and start), for unreadable data, or a run directory that holds another data /
        warm-up / seed setting (while ``resume`` is True).
    """
    check_config(config)
    device = resolve_device(config.device)
    out = Path(out_dir)
    with open_run_dir(out, config, resume) as run_dir:
        return _run(config, run_dir, device, resume, progress, callbacks, warmup_callbacks)


def _run(
    config: RunConfig, run_dir: RunDir, device: torch.device, resume: bool, progress: bool,
    callbacks: Sequence[Callback], warmup_callbacks: Sequence[Callback],
) -> dict[str, Any]:
    """The body of :func:`run_experiment`, in the locked run directory."""
    dataset = load_dataset(config.data)
    warmup_hash = digest("warmup", data_key(config.data), asdict(config.warmup), config.seed)
    jobs = run_jobs(config.selection.methods, config.selection.fractions)

    signals: Signals | None = None
    warmup_seconds: float | None = None
    signals_path = run_dir.path / "signals.npz"
    if any(m != FULL_METHOD for m, _ in jobs):
        start = time.perf_counter()
        signals = warmup_stage(
            dataset, config.warmup, config.seed, device,
            {"signals": run_dir.file("signals.npz"), "ckpt": run_dir.file("ckpt_warmup.pt")}, warmup_hash,
            resume, progress, warmup_callbacks,
        )
        warmup_seconds = float(signals.meta.get("seconds", time.perf_counter() - start))

    results = []
    bar = tqdm(jobs, desc="prune4rel run", disable=not progress, unit="subset")
    graphs = GraphCache(signals) if signals is not None else None
    for method, fraction in bar:
        bar.set_postfix(method=method, fraction=fraction, refresh=True)
        tag = f"{method}_{fraction_tag(fraction)}"
        results.append(_run_job(
            dataset, signals, config, device, run_dir, tag, method, fraction, warmup_hash, warmup_seconds,
            resume, progress, callbacks, graphs,
        ))
    return {"run_dir": str(run_dir.path), "signals": str(signals_path) if signals is not None else None,
            "results": results}


def _run_job(
    dataset: NoisyDataset, signals: Signals | None, config: RunConfig, device: torch.device, run_dir: RunDir,
    tag: str, method: str, fraction: float, warmup_hash: str, warmup_seconds: float | None,
    resume: bool, progress: bool, callbacks: Sequence[Callback], graphs: GraphCache | None,
) -> dict[str, Any]:
    """Selection, training and result of one (method, fraction)."""
    subset_paths = (run_dir.file(f"subset_{tag}.npy"), run_dir.file(f"subset_{tag}.json"))
    if method == FULL_METHOD:
        params: dict[str, Any] = {}
        select_hash = digest("full", data_key(config.data))
        subset = full_subset_stage(dataset, method, fraction, subset_paths, select_hash, resume)
        select_seconds = 0.0
    else:
        assert signals is not None
        params = selector_params(method, config.selection.params.get(method, {}), config.seed)
        select_hash = digest("select", warmup_hash, method, params, fraction)
        subset, meta = selection_stage(
            signals, method, params, fraction, device, subset_paths, select_hash, resume, progress, graphs,
        )
        select_seconds = float(meta["seconds"]) + float(meta.get("graph_seconds", 0.0))
        params = meta.get("resolved_params", params)
    train_hash = digest("train", select_hash, index_digest(subset), asdict(config.train), config.seed)
    result_path = run_dir.file(f"result_{tag}.json")
    if resume:
        previous = read_json(result_path)
        if previous is not None and previous.get("config_hash") == train_hash:
            return previous
    paths = {"ckpt": run_dir.file(f"ckpt_{tag}.pt"), "metrics": run_dir.file(f"metrics_{tag}.jsonl")}
    records, relabel, train_seconds = training_stage(
        dataset, subset, config.train, config.seed, device, paths, train_hash, resume, progress, callbacks
    )
    accs = [r["test_acc"] for r in records]
    best = int(np.argmax(accs))
    result = {
        "format": RESULT_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "config_hash": train_hash,
        "method": method,
        "params": params,
        "fraction": fraction,
        "subset_size": int(subset.size),
        "n_train": dataset.n,
        "subset_noise_rate": dataset.noise_rate(subset),
        "train_noise_rate": dataset.noise_rate(),
        "test_acc_last": float(accs[-1]),
        "test_acc_best": float(accs[best]),
        "best_epoch": records[best]["epoch"],
        "relabel_acc": relabel,
        "test_set": dataset.test_set,
        "dataset": dataset.meta.get("label", dataset.name),
        "learner": config.train.learner,
        "learner_params": {"model": config.train.model, **config.train.params},
        "epochs": config.train.epochs,
        "warmup_epochs": None if method == FULL_METHOD else config.warmup.epochs,
        "seconds": {
            "warmup": None if method == FULL_METHOD else warmup_seconds,
            "select": select_seconds,
            "train": round(train_seconds, 3),
        },
        "device": str(device),
        "seed": config.seed,
        "data_seed": config.data.seed,
    }
    atomic_write_json(result_path, result)
    paths["ckpt"].unlink(missing_ok=True)
    return result
