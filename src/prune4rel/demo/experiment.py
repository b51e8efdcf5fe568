"""The demo's grid: per seed a noisy digits set, a warm-up and the subsets; then one training
per (seed, method, fraction), in this process or in worker processes.

Every training is seeded and runs on one torch thread, so the numbers do not depend on how
many workers run them.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np

from prune4rel.data import NoisyDataset, load_digits_noisy
from prune4rel.demo.noise import NoiseProfile, load_digits_confusion, noise_profile
from prune4rel.learners import LEARNERS, get_learner
from prune4rel.selection import available_selectors, get_selector
from prune4rel.validation import ParameterError
from prune4rel.warmup import warmup

__all__ = [
    "BASELINE", "FULL", "MIN_FRACTION", "NOISE_LEVELS", "QUICK", "DemoSettings", "NoiseLevel", "SeedInfo",
    "run_grid", "settings_record", "steps",
]

#: The method every other one is compared with.
BASELINE = "uniform"
#: Smallest share kept: 63 of the 1,257 training images (a few per class).
MIN_FRACTION = 0.05
#: Method name of the all-data reference (as in :mod:`prune4rel.report`).
FULL = "full"


@dataclass(frozen=True)
class NoiseLevel:
    """A demo noise level and the CIFAR-10N label set it imitates (its measured profile)."""

    rate: float
    cifar10n: str
    cifar10n_rate: float
    cifar10n_class_range: tuple[float, float]
    cifar10n_top_share: float


#: ``--noise`` name -> level (CIFAR-10N figures from the label file, against clean labels).
NOISE_LEVELS: dict[str, NoiseLevel] = {
    "worst": NoiseLevel(0.40, "worst", 0.402, (0.28, 0.51), 0.36),
    "random": NoiseLevel(0.17, "random1", 0.172, (0.10, 0.26), 0.38),
}


@dataclass(frozen=True)
class DemoSettings:
    """What the demo runs.

    Attributes
    ----------
    fractions : tuple of float
        Shares of the training set kept, each in [:data:`MIN_FRACTION`, 1].
    seeds : tuple of int
        One noisy split, warm-up and set of trainings per seed.
    methods : tuple of str
        Selector names; :data:`BASELINE` is always among them.
    noise : str
        A key of :data:`NOISE_LEVELS`.
    warmup_epochs, epochs : int
        Epochs of the CE warm-up on every example and of the learner on each subset.
    learner : str
        Re-labeling learner trained on each subset (``prune4rel.learners.get_learner``).
    lr, batch_size : float, int
        Of the learner and the warm-up (MLP, SGD, cosine schedule).
    full_data : bool
        Also train on every example (method ``"full"``, fraction 1.0): the reference that
        tells whether pruning costs accuracy.
    smoke_test : bool
        Settings too small for meaningful numbers (:data:`QUICK`); the report says so.

    Raises
    ------
    prune4rel.validation.ParameterError
        Naming the field, for a value out of its range.
    """

    fractions: tuple[float, ...] = (0.2, 0.4, 0.6)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    methods: tuple[str, ...] = (BASELINE, "small_loss", "prune4rel", "prune4rel_agree")
    noise: str = "worst"
    warmup_epochs: int = 10
    epochs: int = 30
    learner: str = "sop+"
    lr: float = 0.1
    batch_size: int = 64
    full_data: bool = True
    smoke_test: bool = False

    def __post_init__(self) -> None:
        if not (self.fractions and self.seeds):
            raise ParameterError("fractions" if not self.fractions else "seeds", (), "at least one value")
        for f in self.fractions:
            if not (isinstance(f, (int, float)) and math.isfinite(f) and MIN_FRACTION <= f <= 1.0):
                raise ParameterError("fractions", f, f"a share of the training set in [{MIN_FRACTION}, 1]")
        for s in self.seeds:
            if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 2**32:
                raise ParameterError("seeds", s, "an integer in [0, 2**32 - 1]")
        known = available_selectors()
        for m in self.methods:
            if m not in known:
                raise ParameterError("methods", m, f"a registered selector ({', '.join(known)})")
        if BASELINE not in self.methods:
            raise ParameterError("methods", self.methods, f"a list that includes {BASELINE!r}")
        if self.noise not in NOISE_LEVELS:
            raise ParameterError("noise", self.noise, f"one of {sorted(NOISE_LEVELS)}")
        for name in ("warmup_epochs", "epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParameterError(name, value, "an integer >= 1")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ParameterError("lr", self.lr, "a finite number > 0")
        if self.learner not in LEARNERS:
            raise ParameterError("learner", self.learner, f"one of {sorted(LEARNERS)}")

    @property
    def noise_rate(self) -> float:
        """The share of flipped training labels."""
        return NOISE_LEVELS[self.noise].rate


#: ``--quick``: the same pipeline in a few seconds (for tests; the numbers mean little).
QUICK = replace(
    DemoSettings(), fractions=(0.3, 0.6), seeds=(0, 1), warmup_epochs=2, epochs=2, full_data=False,
    smoke_test=True,
)


@dataclass(frozen=True)
class SeedInfo:
    """What one seed's preparation measured."""

    seed: int
    n_train: int
    n_test: int
    noise: NoiseProfile
    annotator_accuracy: float
    warmup_test_acc: float


def _learner_params(settings: DemoSettings, seed: int) -> dict[str, Any]:
    return {"model": "mlp", "lr": settings.lr, "batch_size": settings.batch_size,
            "num_threads": 1, "seed": seed, "device": "cpu"}


_Subsets = dict[tuple[str, float], np.ndarray]


def _prepare(settings: DemoSettings, seed: int) -> tuple[SeedInfo, np.ndarray, _Subsets]:
    """Noisy data, warm-up and every subset of one seed: (info, noisy labels, subsets)."""
    ds = load_digits_confusion(settings.noise_rate, seed)
    warm = get_learner("ce", **_learner_params(settings, seed))
    signals = warmup(warm, ds, settings.warmup_epochs, record=True, progress=False)
    subsets: _Subsets = {}
    for method in settings.methods:
        selector = get_selector(method, seed=seed) if method == BASELINE else get_selector(method)
        for fraction in settings.fractions:
            chosen = selector.select(signals, fraction).indices
            subsets[(method, fraction)] = np.asarray(chosen, dtype=np.int64)
    if settings.full_data:
        subsets[(FULL, 1.0)] = np.arange(ds.n, dtype=np.int64)
    assert ds.clean_labels is not None
    info = SeedInfo(
        seed=seed, n_train=ds.n, n_test=ds.n_test,
        noise=noise_profile(ds.clean_labels, ds.noisy_labels, ds.num_classes),
        annotator_accuracy=float(ds.meta["annotator_accuracy"]), warmup_test_acc=warm.evaluate(ds),
    )
    _DATASETS[seed] = ds
    return info, ds.noisy_labels, subsets


#: Datasets of this process by seed (a worker trains several subsets of one seed).
_DATASETS: dict[int, NoisyDataset] = {}


def _dataset(seed: int, noisy_labels: np.ndarray) -> NoisyDataset:
    ds = _DATASETS.get(seed)
    if ds is None or not np.array_equal(ds.noisy_labels, noisy_labels):
        ds = load_digits_noisy(0.0, seed=seed).with_labels(noisy_labels)
        _DATASETS[seed] = ds
    return ds


def _train(
    settings: DemoSettings, seed: int, method: str, fraction: float, noisy_labels: np.ndarray, idx: np.ndarray
) -> dict[str, Any]:
    """Train the learner on one subset; its result in :mod:`prune4rel.report`'s keys."""
    start = time.perf_counter()
    ds = _dataset(seed, noisy_labels)
    model = get_learner(settings.learner, **_learner_params(settings, seed))
    model.fit(ds, idx, settings.epochs, progress=False)
    return {
        "method": method, "fraction": fraction, "seed": seed,
        "dataset": f"digits, {settings.noise_rate:.0%} confusion noise",
        "test_set": f"{ds.n_test} held-out digits per seed",
        "learner": settings.learner, "epochs": settings.epochs, "n_train": ds.n,
        "size": int(idx.size), "subset_noise_rate": float(ds.noise_rate(idx) or 0.0),
        "test_acc_last": model.evaluate(ds), "relabel_acc": model.relabel_accuracy(idx),
        "seconds": time.perf_counter() - start, "_path": "prune4rel demo",
    }


def _start_worker() -> None:
    """Workers leave Ctrl-C to the parent (which cancels what has not started) and end with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_after, args=(parent,), daemon=True).start()


def _exit_after(parent: BaseProcess) -> None:
    parent.join()  # returns once the parent is gone, even if it was killed
    os._exit(1)


@contextmanager
def _pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    # spawn: a forked child of a process that has started torch's thread pools can hang
    context = multiprocessing.get_context("spawn")
    before = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker)
    try:
        yield pool
    except BaseException:
        # interrupted (Ctrl-C) or failed: stop the running trainings instead of finishing them
        for child in set(multiprocessing.active_children()) - before:
            child.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_grid(
    settings: DemoSettings, workers: int = 1, on_done: Callable[[], None] | None = None
) -> tuple[list[SeedInfo], list[dict[str, Any]]]:
    """Prepare every seed and train every (seed, method, fraction).

    Parameters
    ----------
    settings : DemoSettings
    workers : int
        Processes that run the work (1: this process only).
    on_done : callable, optional
        Called after each finished step (a seed's preparation or a training), e.g. to
        advance a progress bar.

    Returns
    -------
    seeds : list of SeedInfo
        In seed order.
    results : list of dict
        One per training, sorted by method (in ``settings.methods`` order, the all-data
        reference last), fraction and seed.
    """
    if workers < 1:
        raise ValueError(f"`workers` must be >= 1, got {workers!r}")
    tick = on_done or (lambda: None)
    infos: list[SeedInfo] = []
    results: list[dict[str, Any]] = []
    if workers == 1:
        for seed in settings.seeds:
            info, labels, subsets = _prepare(settings, seed)
            infos.append(info)
            tick()
            for (method, fraction), idx in subsets.items():
                results.append(_train(settings, seed, method, fraction, labels, idx))
                tick()
    else:
        with _pool(workers) as pool:
            # future -> the seed it prepares, or None for a training
            pending: dict[Future[Any], int | None] = {
                pool.submit(_prepare, settings, seed): seed for seed in settings.seeds
            }
            while pending:
                done, _ = wait(list(pending), return_when="FIRST_COMPLETED")
                for future in done:
                    prepared = pending.pop(future)
                    tick()
                    if prepared is None:  # a training
                        results.append(future.result())
                        continue
                    info, labels, subsets = future.result()
                    infos.append(info)
                    for (method, fraction), idx in subsets.items():
                        args = (settings, prepared, method, fraction, labels, idx)
                        pending[pool.submit(_train, *args)] = None
    infos.sort(key=lambda i: i.seed)
    order = {m: i for i, m in enumerate((*settings.methods, FULL))}
    results.sort(key=lambda r: (order[r["method"]], r["fraction"], r["seed"]))
    return infos, results


def settings_record(settings: DemoSettings) -> dict[str, Any]:
    """The settings as plain data (for the results file)."""
    return {**asdict(settings), "noise_rate": settings.noise_rate}


def steps(settings: DemoSettings) -> int:
    """Number of steps :func:`run_grid` reports to ``on_done``."""
    trainings = len(settings.methods) * len(settings.fractions) + settings.full_data
    return len(settings.seeds) * (1 + trainings)

