"""Per-epoch signals from any training loop: :class:`SignalRecorder`.

The loop calls :meth:`SignalRecorder.record_batch` after each training step (example
indices, the step's logits, the given labels, optionally penultimate features) and
:meth:`SignalRecorder.end_epoch` after each epoch; :meth:`SignalRecorder.to_signals` then
returns :class:`~prune4rel.signals.Signals` with the per-epoch histories. Loss, correctness
and margin are computed by :func:`~prune4rel.learners.example_statistics`, the function
:class:`~prune4rel.learners.EpochRecorder` uses, so they mean exactly what they mean for
prune4rel's own warm-up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from prune4rel.learners import example_statistics
from prune4rel.signals import Signals
from prune4rel.warmup.batches import as_indices, as_labels, storage_dtype
from prune4rel.warmup.extract import Outputs

__all__ = ["SignalRecorder"]

_HISTORIES = ("losses", "correct", "margins")
_OUTPUT_FILES = ("probs", "embeddings")


class _History:
    """Rows of one (E, n) history, in memory or appended to a raw file."""

    def __init__(self, n: int, dtype: type[np.generic], path: Path | None) -> None:
        self.n, self.dtype, self.path = n, np.dtype(dtype), path
        self._rows: list[np.ndarray] = []
        self.epochs = 0
        if path is not None:
            path.touch(exist_ok=False)

    def append(self, row: np.ndarray) -> None:
        row = np.ascontiguousarray(row, dtype=self.dtype)
        if self.path is None:
            self._rows.append(row)
        else:
            with open(self.path, "ab") as fh:
                row.tofile(fh)
        self.epochs += 1

    def array(self) -> np.ndarray:
        if self.epochs == 0:
            return np.zeros((0, self.n), self.dtype)
        if self.path is None:
            return np.stack(self._rows)
        return np.memmap(self.path, dtype=self.dtype, mode="r", shape=(self.epochs, self.n))


class SignalRecorder:
    """Records per-example histories from any training loop and returns them as Signals.

    After every training step call :meth:`record_batch` with the dataset indices of the
    batch's examples, the step's logits and their given labels; after every epoch call
    :meth:`end_epoch`. Each epoch must see every example once (the step's logits are those
    of the example's training view, as in :class:`~prune4rel.learners.EpochRecorder`):

    - ``losses``: cross-entropy of the given label;
    - ``correct``: ``argmax(logits) == given label``;
    - ``margins``: logit of the given label minus the largest other logit (AUM).

    Memory is ``3 n`` floats for the epoch in progress plus the histories, ``E n`` values of
    ``dtype`` each for losses and margins and ``E n`` bytes for correct; with ``memmap_dir``
    each finished epoch is appended to a file there and the histories are memory-mapped.

    Parameters
    ----------
    n : int
        Number of training examples; ``indices`` lie in ``[0, n)``.
    labels : array-like of int, shape (n,), optional
        Given labels of all examples; otherwise they are taken from :meth:`record_batch`.
    dtype : {"float32", "float16"}
        Storage type of losses, margins and kept features (float16 halves the memory).
    memmap_dir : path-like, optional
        Folder for the files ``losses.bin``, ``correct.bin``, ``margins.bin`` (raw rows,
        (E, n) C order) and, with ``keep_outputs``, ``probs.bin`` (n, C) float32 and
        ``embeddings.bin`` (n, d) ``dtype``. Created when missing; none of these files may
        exist yet. The returned Signals read these files: keep them while you use it.
    keep_outputs : bool
        Keep each example's softmax probabilities and features from its latest batch, so
        that :meth:`to_signals` needs no separate extraction pass (these are training-mode
        outputs of augmented views; an eval-mode pass, :func:`extract_outputs`, is closer
        to what prune4rel's own warm-up measures).

    Raises
    ------
    ValueError
        For ``n < 1``, an unknown ``dtype``, labels of the wrong shape or a ``memmap_dir``
        that already holds the recorder's files.
    """

    def __init__(
        self,
        n: int,
        labels: Any = None,
        *,
        dtype: str = "float32",
        memmap_dir: str | os.PathLike[str] | None = None,
        keep_outputs: bool = True,
    ) -> None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"`n` must be a positive int (the number of examples), got {n!r}")
        self.n = int(n)
        self.dtype = np.dtype(storage_dtype(dtype))
        self.keep_outputs = bool(keep_outputs)
        self._labels = np.full(self.n, -1, np.int64)
        if labels is not None:
            self._labels[:] = as_labels(labels, self.n, "labels")
        self._dir = None if memmap_dir is None else Path(memmap_dir)
        if self._dir is not None:
            self._dir.mkdir(parents=True, exist_ok=True)
            taken = [f"{k}.bin" for k in (*_HISTORIES, *_OUTPUT_FILES) if (self._dir / f"{k}.bin").exists()]
            if taken:
                raise ValueError(f"`memmap_dir` {self._dir} already holds {taken}: pass a new folder")
        self._histories = {
            name: _History(self.n, np.bool_ if name == "correct" else self.dtype.type, self._file(name))
            for name in _HISTORIES
        }
        self._num_classes: int | None = None
        self._probs: np.ndarray | None = None
        self._features: np.ndarray | None = None
        self._with_features: bool | None = None
        self._start_epoch()

    def _file(self, name: str) -> Path | None:
        return None if self._dir is None else self._dir / f"{name}.bin"

    def _buffer(self, name: str, cols: int, dtype: np.dtype[Any]) -> np.ndarray:
        path = self._file(name)
        if path is None:
            return np.zeros((self.n, cols), dtype)
        return np.memmap(path, dtype=dtype, mode="w+", shape=(self.n, cols))

    def _start_epoch(self) -> None:
        self._loss = np.full(self.n, np.nan, np.float32)
        self._margin = np.full(self.n, np.nan, np.float32)
        self._correct = np.zeros(self.n, bool)
        self._seen = np.zeros(self.n, bool)
        self._batches = 0

    @torch.no_grad()
    def record_batch(self, indices: Any, logits: Any, labels: Any = None, features: Any = None) -> None:
        """Record one training step.

        Parameters
        ----------
        indices : Tensor or array-like of int, shape (B,)
            Dataset indices of the batch's examples, distinct, in ``[0, n)``.
        logits : Tensor or array-like of float, shape (B, C)
            The step's logits (any device and float dtype; detached here).
        labels : Tensor or array-like of int, shape (B,), optional
            Given labels; needed for examples whose label the recorder does not know yet,
            checked against the known ones otherwise.
        features : Tensor or array-like of float, shape (B, ...), optional
            Penultimate features (flattened per row), kept with ``keep_outputs``; give them
            in every batch or in none.

        Raises
        ------
        ValueError
            On a shape, range, class-count or label mismatch, repeated indices (in the batch
            or the epoch), features without ``keep_outputs`` or given in some batches only.
        """
        # every check comes before the first change of state: a refused batch leaves none
        idx = as_indices(indices, self.n)
        again = idx[self._seen[idx]]
        if again.size:
            raise ValueError(
                f"examples {again[:5].tolist()} were already recorded in this epoch: call end_epoch() "
                "after each epoch (each example is recorded once per epoch)"
            )
        z = logits if isinstance(logits, torch.Tensor) else torch.as_tensor(np.asarray(logits))
        if z.ndim != 2 or z.shape[0] != idx.size or not z.is_floating_point():
            raise ValueError(f"`logits` must be a float (B={idx.size}, C) array, got {tuple(z.shape)}")
        classes = self._num_classes or int(z.shape[1])
        if z.shape[1] != classes:
            raise ValueError(f"`logits` has {z.shape[1]} columns, earlier batches had {classes}")
        y = self._batch_labels(idx, labels, classes)
        feats = self._batch_features(idx.size, features)
        z = z.detach().float()
        loss, correct, margin = (
            t.cpu().numpy() for t in example_statistics(z, torch.from_numpy(y).to(z.device))
        )
        self._num_classes = classes
        self._labels[idx] = y
        self._loss[idx], self._correct[idx], self._margin[idx] = loss, correct, margin
        self._seen[idx] = True
        self._batches += 1
        if not self.keep_outputs:
            return
        if self._probs is None:
            self._probs = self._buffer("probs", classes, np.dtype(np.float32))
        self._probs[idx] = torch.softmax(z, dim=1).cpu().numpy()
        self._with_features = feats is not None
        if feats is not None:
            if self._features is None:
                self._features = self._buffer("embeddings", feats.shape[1], self.dtype)
            self._features[idx] = feats

    def _batch_labels(self, idx: np.ndarray, labels: Any, classes: int) -> np.ndarray:
        known = self._labels[idx]
        if labels is None:
            if np.any(known < 0):
                raise ValueError(
                    f"labels of examples {idx[known < 0][:5].tolist()} are unknown: pass `labels` "
                    "to record_batch or to the constructor"
                )
            y = known
        else:
            y = as_labels(labels, idx.size, "labels")
            clash = (known >= 0) & (known != y)
            if np.any(clash):
                raise ValueError(
                    f"`labels` differ from those recorded before for examples {idx[clash][:5].tolist()}: "
                    "are `indices` the dataset indices of the batch?"
                )
        if y.size and y.max() >= classes:
            raise ValueError(f"`labels` holds class id {y.max()} but `logits` has {classes} columns")
        return y

    def _batch_features(self, size: int, features: Any) -> np.ndarray | None:
        """The batch's features as float32 (B, d), checked; None without features."""
        if features is not None and not self.keep_outputs:
            raise ValueError("`features` given but this recorder was built with keep_outputs=False")
        if self._with_features is not None and self._with_features != (features is not None):
            raise ValueError("`features` must be given in every batch or in none")
        if features is None:
            return None
        f = features if isinstance(features, torch.Tensor) else torch.as_tensor(np.asarray(features))
        if f.ndim < 2 or f.shape[0] != size:
            raise ValueError(f"`features` must have shape (B={size}, ...), got {tuple(f.shape)}")
        out = f.detach().reshape(size, -1).float().cpu().numpy()
        if self._features is not None and out.shape[1] != self._features.shape[1]:
            width = self._features.shape[1]
            raise ValueError(f"`features` have {out.shape[1]} values per row, earlier batches had {width}")
        return out

    def end_epoch(self) -> None:
        """Close the epoch: append each example's loss, correctness and margin to the histories.

        Raises
        ------
        ValueError
            When no batch was recorded since the last call, or some example got no batch in
            this epoch (the epoch is then discarded).
        """
        if self._batches == 0:
            raise ValueError("end_epoch() called with no batch recorded since the last call")
        unseen = np.flatnonzero(~self._seen)
        if unseen.size:
            self._start_epoch()
            raise ValueError(
                f"{unseen.size} of {self.n} examples got no batch in epoch {self.epochs} "
                f"(first: {unseen[:5].tolist()}); every example must be trained once per epoch "
                "(drop_last=True, a subset sampler, limit_train_batches or a DistributedSampler "
                "leave some out); the epoch was discarded"
            )
        if self.dtype == np.float16:
            limit = float(np.finfo(np.float16).max)
            np.clip(self._loss, -limit, limit, out=self._loss)
            np.clip(self._margin, -limit, limit, out=self._margin)
        self._histories["losses"].append(self._loss)
        self._histories["correct"].append(self._correct)
        self._histories["margins"].append(self._margin)
        self._start_epoch()

    @property
    def epochs(self) -> int:
        """Number of finished epochs ``E``."""
        return self._histories["losses"].epochs

    @property
    def losses(self) -> np.ndarray:
        """Per-epoch loss, shape (E, n), ``dtype`` (memory-mapped with ``memmap_dir``)."""
        return self._histories["losses"].array()

    @property
    def correct(self) -> np.ndarray:
        """Per-epoch correctness, shape (E, n), bool."""
        return self._histories["correct"].array()

    @property
    def margins(self) -> np.ndarray:
        """Per-epoch margin, shape (E, n), ``dtype``."""
        return self._histories["margins"].array()

    def to_signals(
        self,
        outputs: Outputs | None = None,
        clean_labels: Any = None,
        meta: Mapping[str, Any] | None = None,
    ) -> Signals:
        """The recorded histories with probabilities and embeddings, as :class:`Signals`.

        Parameters
        ----------
        outputs : Outputs, optional
            Probabilities and embeddings of an eval-mode pass
            (:func:`~prune4rel.warmup.extract_outputs`), rows in index order; its labels,
            when present, must equal the recorded ones. Default: the kept training-mode
            outputs (``keep_outputs`` and ``features`` in every batch).
        clean_labels : array-like of int, shape (n,), optional
            True labels, for evaluation only.
        meta : mapping, optional
            Extra ``meta`` entries.

        Raises
        ------
        ValueError
            When no epoch is finished, one is in progress, no outputs are available, or the
            labels of ``outputs`` differ from the recorded ones.
        """
        if self.epochs == 0:
            raise ValueError("no epoch recorded: call end_epoch() after each epoch")
        if self._batches:
            raise ValueError("an epoch is in progress: call end_epoch() before to_signals()")
        if outputs is None:
            if self._probs is None or self._features is None:
                raise ValueError(
                    "no outputs kept (keep_outputs=False or no `features` recorded): pass "
                    "outputs=extract_outputs(model, loader)"
                )
            probs, embeddings, source = self._probs, self._features, "training-mode, last epoch"
        else:
            if outputs.probs.shape[0] != self.n:
                raise ValueError(f"`outputs` has {outputs.probs.shape[0]} rows, the recorder n = {self.n}")
            if outputs.labels is not None and not np.array_equal(outputs.labels, self._labels):
                bad = np.flatnonzero(np.asarray(outputs.labels) != self._labels)
                raise ValueError(
                    f"`outputs` labels differ from the recorded ones at {bad.size} examples "
                    f"(first: {bad[:5].tolist()}): was the extraction in index order?"
                )
            probs, embeddings, source = outputs.probs, outputs.embeddings, "given"
        return Signals(
            labels=self._labels,
            probs=probs,
            embeddings=embeddings,
            losses=self.losses,
            correct=self.correct,
            margins=self.margins,
            clean_labels=clean_labels,
            meta={
                "producer": "prune4rel.warmup.recorder",
                "epochs": self.epochs,
                "outputs": source,
                **dict(meta or {}),
            },
        )
