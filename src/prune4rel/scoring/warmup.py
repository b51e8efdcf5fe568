"""Warm-up training and signal extraction: the step from a noisy dataset to :class:`Signals`."""

from __future__ import annotations

import time
from typing import Any

from prune4rel.data import NoisyDataset
from prune4rel.learners import EpochRecorder, Learner
from prune4rel.signals import Signals

__all__ = ["warmup"]


def warmup(
    learner: Learner,
    dataset: NoisyDataset,
    epochs: int,
    record: bool = True,
    progress: bool = True,
) -> Signals:
    """Train ``learner`` on every training example, then read out per-example signals.

    Parameters
    ----------
    learner : Learner
        Usually a fresh :class:`~prune4rel.learners.CE` with a small network; it keeps its
        trained weights afterwards.
    dataset : NoisyDataset
    epochs : int
        Warm-up epochs ``E`` (short: the point is to stop before the noise is memorised).
    record : bool
        Record each example's loss, correctness and margin every epoch (see
        :class:`~prune4rel.learners.EpochRecorder`); without it the histories are absent.
    progress : bool
        Show progress bars.

    Returns
    -------
    Signals
        ``labels`` = the given noisy labels (N,); ``probs`` (N, C) and ``embeddings`` (N, d)
        from one eval-mode pass after training; ``losses``, ``correct``, ``margins`` of
        shape (E, N) when ``record``; ``clean_labels`` when the dataset has them. ``meta``
        records the learner, epochs, seed, dataset name and seconds.
    """
    if not isinstance(learner, Learner):
        raise ValueError(f"`learner` must be a prune4rel Learner, got {type(learner).__name__}")
    start = time.perf_counter()
    recorder = EpochRecorder() if record else None
    learner.fit(dataset, None, epochs, progress=progress, callbacks=[recorder] if recorder else [])
    probs, embeddings = learner.predict(dataset)
    extra: dict[str, Any] = {}
    if recorder is not None:
        extra = {"losses": recorder.losses, "correct": recorder.correct, "margins": recorder.margins}
    return Signals(
        labels=dataset.noisy_labels,
        probs=probs,
        embeddings=embeddings,
        clean_labels=dataset.clean_labels,
        meta={
            "producer": "prune4rel.scoring.warmup",
            "learner": repr(learner),
            "epochs": int(epochs),
            "seed": learner.seed,
            "dataset": dataset.name,
            "seconds": round(time.perf_counter() - start, 3),
        },
        **extra,
    )
