"""A tiny experiment for the pipeline tests: a blobs dataset file and a run configuration on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prune4rel.pipeline import RunConfig

#: Training epochs of :func:`tiny_config`.
EPOCHS = 4


def write_blobs(path: Path, n_train: int, n_test: int, seed: int) -> Path:
    """An ``arrays`` dataset file: three Gaussian blobs in 6-D, 30% symmetric noise on the
    ``n_train`` training examples (``clean`` holds their true labels)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(3, 6))

    def blobs(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 3, n)
        return (centers[y] + rng.normal(size=(n, 6))).astype(np.float32), y

    x, clean = blobs(n_train)
    x_test, y_test = blobs(n_test)
    noisy = clean.copy()
    flips = round(0.3 * n_train)
    flip = rng.choice(n_train, flips, replace=False)
    noisy[flip] = (clean[flip] + rng.integers(1, 3, flips)) % 3
    np.savez(path, x_train=x, y_train=noisy, x_test=x_test, y_test=y_test, clean=clean)
    return path


def tiny_config(arrays_path: Path, **overrides: object) -> RunConfig:
    """Prune4ReL and uniform at 0.4 and the full reference, MLP warm-up and ELR training on
    ``arrays_path``, with ``overrides`` applied."""
    learner = {"num_threads": 1, "batch_size": 32, "lr": 0.05}
    raw = {
        "seed": 0,
        "data": {"dataset": "arrays", "path": str(arrays_path)},
        "warmup": {"epochs": 2, "model": "mlp", "params": learner},
        "selection": {"methods": ["prune4rel", "uniform"], "fractions": [0.4, 1.0]},
        "train": {"learner": "elr", "epochs": EPOCHS, "model": "mlp", "params": learner},
    }
    return RunConfig.from_dict(raw).with_overrides(overrides)
