"""Warm-up training and signal extraction: the step from a noisy dataset to :class:`Signals`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from prune4rel.data import NoisyDataset
from prune4rel.learners import Callback, EpochRecorder, Learner
from prune4rel.signals import Signals

__all__ = ["warmup", "warmup_signals"]


def warmup(
    learner: Learner,
    dataset: NoisyDataset,
    epochs: int,
    record: bool = True,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
    recorder: EpochRecorder | None = None,
) -> Signals:
    """Train ``learner`` on every training example, then read out per-example signals.

    To resume an interrupted warm-up, pass a new learner given the state saved after some
    epoch (:meth:`~prune4rel.learners.Learner.load_state_dict`), a ``recorder`` given the
    :meth:`~prune4rel.learners.EpochRecorder.state_dict` saved with it, and the same
    ``dataset`` and ``epochs``: only the remaining epochs run and, on CPU, the Signals are
    bit-identical to those of an uninterrupted warm-up.

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
    callbacks : sequence of Callback
        Called after the recorder on every epoch (so a checkpointing callback sees the
        epoch's histories in ``recorder``).
    recorder : EpochRecorder, optional
        The recorder of the histories (default: a new one); needs ``record``.

    Returns
    -------
    Signals
        ``labels`` = the given noisy labels (N,); ``probs`` (N, C) and ``embeddings`` (N, d)
        from one eval-mode pass after training; ``losses``, ``correct``, ``margins`` of
        shape (E, N) when ``record``; ``clean_labels`` when the dataset has them. ``meta``
        records the learner, epochs, seed, dataset name and seconds (of this call).

    Raises
    ------
    ValueError
        For a non-learner, or a ``recorder`` with ``record=False``.
    """
    if not isinstance(learner, Learner):
        raise ValueError(f"`learner` must be a prune4rel Learner, got {type(learner).__name__}")
    if recorder is not None and not record:
        raise ValueError("`recorder` needs record=True")
    start = time.perf_counter()
    if record and recorder is None:
        recorder = EpochRecorder()
    recording = [recorder] if recorder is not None else []
    learner.fit(dataset, None, epochs, progress=progress, callbacks=[*recording, *callbacks])
    probs, embeddings = learner.predict(dataset)
    histories = (recorder.losses, recorder.correct, recorder.margins) if recorder is not None else None
    return warmup_signals(
        learner, dataset, epochs, probs, embeddings, histories, time.perf_counter() - start,
        producer="prune4rel.warmup.train",
    )


def warmup_signals(
    learner: Learner,
    dataset: NoisyDataset,
    epochs: int,
    probs: np.ndarray,
    embeddings: np.ndarray,
    histories: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    seconds: float,
    producer: str,
    **meta: Any,
) -> Signals:
    """The :class:`Signals` of a finished warm-up, with its standard ``meta``.

    Parameters
    ----------
    learner : Learner
        The warmed-up learner (its ``repr`` and seed go into ``meta``).
    dataset : NoisyDataset
        Gives the labels, the clean labels (when known) and the name.
    epochs : int
    probs : ndarray, shape (N, C)
    embeddings : ndarray, shape (N, d)
    histories : (losses, correct, margins) of shape (E, N) each, or None
    seconds : float
        Wall time of the warm-up.
    producer : str
        Module that made the signals.
    **meta
        Further ``meta`` entries.
    """
    extra: dict[str, Any] = {}
    if histories is not None:
        extra = dict(zip(("losses", "correct", "margins"), histories, strict=True))
    return Signals(
        labels=dataset.noisy_labels,
        probs=probs,
        embeddings=embeddings,
        clean_labels=dataset.clean_labels,
        meta={
            "producer": producer,
            "learner": repr(learner),
            "epochs": int(epochs),
            "seed": learner.seed,
            "dataset": dataset.name,
            **meta,
            "seconds": round(seconds, 3),
        },
        **extra,
    )
