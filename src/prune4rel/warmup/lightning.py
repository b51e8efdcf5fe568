"""A PyTorch Lightning callback that records Signals around ``trainer.fit`` (extra ``[lightning]``).

During training it feeds a :class:`~prune4rel.warmup.SignalRecorder` from every training
step; when training ends it runs one eval-mode pass (:func:`~prune4rel.warmup.extract_outputs`)
on the trained module and joins both into :class:`~prune4rel.signals.Signals`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from prune4rel.signals import Signals
from prune4rel.warmup.batches import Batch, Unpack, unpack_batch
from prune4rel.warmup.extract import extract_outputs
from prune4rel.warmup.recorder import SignalRecorder

try:
    from lightning.pytorch import Callback, LightningModule, Trainer
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "prune4rel.warmup.lightning needs PyTorch Lightning: pip install 'prune4rel[lightning]'"
    ) from exc

__all__ = ["SignalsCallback"]


class SignalsCallback(Callback):
    """Records per-epoch histories during ``trainer.fit`` and extracts Signals at its end.

    The module's ``training_step`` returns a dict with ``"loss"`` and ``"logits"`` (the
    step's (B, C) logits) and optionally ``"indices"``, ``"labels"`` and ``"features"``;
    what it leaves out is read from the batch with ``unpack`` (by default ``(x, y, index)``
    tuples). Every training epoch must see each example once (no ``drop_last``, no
    ``limit_train_batches``), in a single process. After ``fit``, :attr:`signals` holds
    the result. A fit resumed from a checkpoint records only the epochs it runs
    (``meta["first_epoch"]``).

    Parameters
    ----------
    n : int, optional
        Number of training examples; default ``len(trainer.train_dataloader.dataset)``.
    extract : bool
        At the end of training, take ``probs`` and ``embeddings`` from one eval-mode pass of
        the module (called as ``module(inputs)``, returning logits) over ``loader``;
        otherwise from the training steps (``"features"`` must then be returned).
    loader : iterable of batches, optional
        The extraction loader, ideally without augmentation; default: the training loader
        (its batches then carry indices, as the recorder needs them).
    layer : str, optional
        Feature layer for the extraction (see :func:`extract_outputs`); default: the input of
        the last ``nn.Linear``.
    unpack : callable, optional
        ``batch -> (inputs, labels or None, indices or None)``, for training and extraction.
    dtype : {"float32", "float16"}
        Storage type of the histories and embeddings.
    memmap_dir : path-like, optional
        Memory-map the histories there (see :class:`SignalRecorder`).
    save_to : path-like, optional
        Also write the Signals there (:meth:`Signals.save`).
    clean_labels : array-like of int, shape (n,), optional
        True labels, for evaluation only.
    progress : bool
        Progress bar for the extraction pass.
    """

    def __init__(
        self,
        n: int | None = None,
        *,
        extract: bool = True,
        loader: Iterable[Any] | None = None,
        layer: str | None = None,
        unpack: Unpack | None = None,
        dtype: str = "float32",
        memmap_dir: str | os.PathLike[str] | None = None,
        save_to: str | os.PathLike[str] | None = None,
        clean_labels: Any = None,
        progress: bool = True,
    ) -> None:
        self.n, self.extract, self.loader, self.layer = n, bool(extract), loader, layer
        self.unpack: Unpack = unpack or unpack_batch
        self.dtype, self.memmap_dir, self.save_to = dtype, memmap_dir, save_to
        self.clean_labels, self.progress = clean_labels, progress
        self.recorder: SignalRecorder | None = None
        self.signals: Signals | None = None
        self._first_epoch = 0

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.world_size > 1:
            raise ValueError(
                f"SignalsCallback records in one process; this run has {trainer.world_size} "
                "(gather logits and indices across ranks into a SignalRecorder instead)"
            )
        n = self.n
        if n is None:
            dataset = getattr(trainer.train_dataloader, "dataset", None)
            if dataset is None or not hasattr(dataset, "__len__"):
                raise ValueError("SignalsCallback cannot size the training set: pass `n`")
            n = len(dataset)
        self.recorder = SignalRecorder(
            n, dtype=self.dtype, memmap_dir=self.memmap_dir, keep_outputs=not self.extract
        )
        self._first_epoch = int(trainer.current_epoch)

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        assert self.recorder is not None  # made in on_train_start
        if not isinstance(outputs, Mapping) or "logits" not in outputs:
            raise ValueError(
                "SignalsCallback needs the step's logits: return {'loss': loss, 'logits': logits} "
                "from training_step"
            )
        read = Batch(*self.unpack(batch))
        indices = outputs.get("indices", read.indices)
        if indices is None:
            raise ValueError(
                "SignalsCallback needs each example's dataset index: yield (x, y, index) batches "
                "or return 'indices' from training_step"
            )
        features = None if self.extract else outputs.get("features")
        self.recorder.record_batch(indices, outputs["logits"], outputs.get("labels", read.labels), features)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        assert self.recorder is not None
        self.recorder.end_epoch()

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # before Lightning's teardown: the module is still on its training device
        assert self.recorder is not None
        outputs = None
        if self.extract:
            loader = self.loader if self.loader is not None else trainer.train_dataloader
            if loader is None:
                raise ValueError("SignalsCallback found no loader to extract from: pass `loader`")
            outputs = extract_outputs(
                pl_module, loader, layer=self.layer, n=self.recorder.n, unpack=self.unpack,
                dtype=self.dtype, progress=self.progress,
            )
        self.signals = self.recorder.to_signals(
            outputs,
            clean_labels=self.clean_labels,
            meta={
                "producer": "prune4rel.warmup.lightning",
                "module": type(pl_module).__name__,
                "first_epoch": self._first_epoch,
            },
        )
        if self.save_to is not None:
            self.signals.save(self.save_to)
