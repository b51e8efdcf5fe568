"""The epoch loop of :meth:`Learner.fit <prune4rel.learners.Learner.fit>`.

:func:`run_epochs` runs the epochs of one ``fit`` call (progress bar, logs, callbacks);
:func:`train_epoch` is the default epoch of a one-network learner (batches from the
:class:`TrainingLoop`, the scheduled learning rate, one optimisation step per batch).
:class:`TrainingLoop` is the hook for data-parallel training.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, closing, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm.auto import tqdm

from prune4rel.learners.callbacks import Callback
from prune4rel.learners.optim import Optimizers, set_lr
from prune4rel.learners.runtime import autocast

if TYPE_CHECKING:
    from prune4rel.data import NoisyDataset
    from prune4rel.learners.base import Learner

__all__ = ["Batch", "TrainingLoop", "run_epochs", "take_step", "train_epoch"]


@dataclass
class Batch:
    """One training batch, on the learner's device.

    Attributes
    ----------
    idx : Tensor of int64, shape (B,)
        Dataset indices of the examples.
    x : Tensor, shape (B, ...)
        Normalised weak (supervised) view.
    y : Tensor of int64, shape (B,)
        Given labels.
    x_strong : Tensor or None
        Normalised strong view, when the learner asks for one (``uses_strong_view``).
    """

    idx: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    x_strong: torch.Tensor | None = None


class TrainingLoop:
    """How :meth:`Learner.fit` cuts an epoch into batches and runs it; the hook for
    data-parallel training.

    This default is one process: the epoch's indices are shuffled with the learner's
    generator and cut into ``ceil(m / batch_size)`` near-equal batches.
    :class:`prune4rel.distributed.ddp.DDPLoop` instead gives each process its share of every
    batch and wraps the network in ``DistributedDataParallel`` for the epoch. Learners that
    override :meth:`Learner._train_epoch` (DivideMix) do not call :meth:`batches`.
    """

    def steps_per_epoch(self, learner: Learner, m: int) -> int:
        """Optimisation steps of one epoch over ``m`` examples (sets the lr schedule)."""
        return max(1, math.ceil(m / learner.batch_size))

    def batches(self, learner: Learner, idx: torch.Tensor) -> Sequence[torch.Tensor]:
        """This epoch's batches of dataset indices (int64 tensors), in training order."""
        order = idx[torch.randperm(idx.numel(), generator=learner.generator).to(idx.device)]
        return torch.tensor_split(order, self.steps_per_epoch(learner, idx.numel()))

    def epoch(self, learner: Learner) -> AbstractContextManager[None]:
        """Context around one training epoch (:meth:`Learner._train_epoch`)."""
        return nullcontext()


def take_step(
    loss: torch.Tensor, optimizers: Sequence[torch.optim.Optimizer], name: str, epoch: int,
    step: int | None = None,
) -> None:
    """Backward of ``loss`` and one step of every optimizer.

    Raises
    ------
    FloatingPointError
        For a non-finite loss (nothing is stepped), naming the learner ``name``, the
        ``epoch`` and the ``step``.
    """
    if not torch.isfinite(loss):
        at = f"epoch {epoch}" + ("" if step is None else f", step {step}")
        raise FloatingPointError(f"{name}: non-finite loss at {at}; lower `lr`")
    for opt in optimizers:
        opt.zero_grad(set_to_none=True)
    loss.backward()
    for opt in optimizers:
        opt.step()


def train_epoch(
    learner: Learner, epoch: int, idx: torch.Tensor, optimizers: Optimizers, step0: int,
    total_steps: int, callbacks: Sequence[Callback],
) -> dict[str, Any]:
    """One pass of ``learner`` over ``idx`` in the training loop's batches.

    Returns
    -------
    dict
        The epoch's ``loss`` and ``train_acc_given`` (means over its examples), ``lr`` (of
        the next step) and ``steps``.
    """
    assert learner.model is not None
    learner.model.train()
    loss_sum, hits, seen = 0.0, 0, 0
    step = step0
    batches = learner.training_loop.batches(learner, idx)
    with closing(learner._batch_inputs(batches)) as inputs:
        for bidx, x in zip(batches, inputs):
            factor = learner._lr_factor(step, total_steps)
            for opt, scheduled in optimizers:
                if scheduled:
                    set_lr(opt, factor)
            batch = learner._make_batch(bidx, x)
            with autocast(learner.device, learner.amp):
                loss, logits = learner._train_step(batch, epoch)
            take_step(loss, [opt for opt, _ in optimizers], learner.name, epoch, step)
            logits = logits.detach().float()
            for cb in callbacks:
                cb.on_batch_end(learner, epoch, bidx, logits)
            b = bidx.numel()
            loss_sum += float(loss.detach()) * b
            hits += int((logits.argmax(1) == batch.y).sum())
            seen += b
            step += 1
    return {
        "loss": loss_sum / max(1, seen),
        "train_acc_given": hits / max(1, seen),
        "lr": learner.lr * learner._lr_factor(step, total_steps),
        "steps": step - step0,
    }


def run_epochs(
    learner: Learner, dataset: NoisyDataset, idx_np: np.ndarray, optimizers: Optimizers, first: int,
    epochs: int, progress: bool, callbacks: Sequence[Callback],
) -> list[dict[str, Any]]:
    """Epochs ``first`` to ``epochs - 1`` of a ``fit`` call of the bound ``learner``.

    Returns
    -------
    list of dict
        One log per epoch run (see :meth:`Learner.fit`).
    """
    idx = torch.as_tensor(idx_np, device=learner.device)
    n_batches = learner.training_loop.steps_per_epoch(learner, idx_np.size)
    total = epochs * n_batches
    for cb in callbacks:
        cb.on_fit_start(learner, dataset, idx_np, epochs)
    logs: list[dict[str, Any]] = []
    bar = tqdm(
        range(first, epochs), desc=f"{learner.name} fit", disable=not progress, leave=False,
        initial=first, total=epochs,
    )
    for e in bar:
        start = time.perf_counter()
        with learner.training_loop.epoch(learner):
            log = learner._train_epoch(learner.epochs_done, idx, optimizers, e * n_batches, total, callbacks)
        log = {"epoch": learner.epochs_done, **log, "seconds": time.perf_counter() - start}
        learner._record_epoch(log, idx_np)
        logs.append(log)
        bar.set_postfix(loss=f"{log['loss']:.3f}", refresh=False)
        for cb in callbacks:
            cb.on_epoch_end(learner, log["epoch"], log)
    for cb in callbacks:
        cb.on_fit_end(learner, logs)
    return logs
