"""Data-parallel warm-up and signal extraction with ``torch.distributed`` (launched by torchrun).

The command line (``torchrun ... -m prune4rel.pipeline.ddp_run --config run.yaml --out
signals.npz``) is :mod:`prune4rel.pipeline.ddp_run`. Started without torchrun (no
``WORLD_SIZE`` in the environment), :func:`ddp_warmup` runs the ordinary one-process
:func:`~prune4rel.warmup.warmup`.

Python::

    with distributed(device="auto") as ctx:               # process group from torchrun's env
        learner = CE(model="mlp", batch_size=64, device=ctx.device, seed=0)
        signals = ddp_warmup(learner, dataset, epochs=8)  # same Signals on every rank
        probs, emb = ddp_predict(learner, other_inputs)   # sharded eval-mode pass
        if ctx.rank == 0:
            signals.save("signals.npz")

How the work is split
---------------------
- **Batches.** ``batch_size`` is the batch of *one* process: the global batch is
  ``world_size * batch_size``. Each epoch rank 0 shuffles the indices with its learner's
  generator and broadcasts the order; it is cut into ``S = min(ceil(m / (W * b)), m // W)``
  near-equal global batches and every global batch into ``W`` contiguous near-equal parts,
  part ``r`` for rank ``r``. So every example is trained exactly once per epoch on exactly
  one rank, nothing is dropped or padded, every rank takes the same ``S`` steps (the
  gradient all-reduce never waits for a missing rank) and per-rank batches differ by at
  most one example. ``DistributedDataParallel`` averages the ranks' mean-loss gradients,
  which equals the mean over the global batch when the parts have equal size; with
  ``W = 2`` and ``b = B / 2`` a step is then the step of one process with batch ``B`` on
  the same order (checked in the tests, for a network without batch-norm: batch-norm uses
  per-rank batch statistics, its buffers come from rank 0).
- **Networks.** Every rank builds the learner with the same seed; DDP broadcasts rank 0's
  weights and buffers when it wraps the network, so all ranks start, and stay, identical.
  The wrapper exists only during training epochs: :meth:`Learner.state_dict`, ``predict``
  and callbacks between epochs see the plain network. Ranks above 0 reseed their learner's
  generator so that their augmentations differ from rank 0's.
- **Per-example state** stays indexed by dataset index on every rank. After each epoch
  every row of each tensor the learner declares (``per_example_state``) is copied from the
  rank that trained that example (an all-reduce of the owner's rows), so all ranks hold the
  same state. Supported: the learners that declare ``data_parallel``, i.e. CE (no state)
  and ELR (targets, updated only from the example's own prediction: exact). Not supported:
  SOP/SOP+ (their per-example ``u``/``v`` take a batch-mean gradient and the class-balance
  term is a batch statistic, so they would follow per-rank rather than global batches) and
  DivideMix (co-divide fits a mixture to all examples' losses with its own epoch loop).
- **Records.** Each rank's :class:`~prune4rel.learners.EpochRecorder` holds its own
  examples' loss, correctness and margin (NaN / False elsewhere); they are summed over the
  ranks at the end, giving full (E, N) histories. Epoch logs (``loss``,
  ``train_acc_given``) are the global means.
- **Extraction.** :func:`ddp_predict` gives rank ``r`` the ``r``-th contiguous shard of the
  inputs and all-gathers the eval-mode outputs in input order, on every rank.

Backends: "nccl" when the device is CUDA (rank ``r`` uses ``cuda:LOCAL_RANK``), "gloo"
otherwise; ``backend=`` overrides. Progress bars are shown on rank 0 only.

Shutdown
--------
:func:`distributed` leaves with a barrier and ``destroy_process_group``, which joins the gloo
threads before the process exits, provided nothing else holds the group. But the functions
of ``torch.distributed.nn`` take ``group=group.WORLD`` as a default argument, evaluated at
import, and DDP imports that module on first use: imported after the group exists, it keeps
the group and its threads alive, and a rank still exiting when a peer closes its connection
dies with ``terminate called without an active exception`` (SIGABRT). So this module
imports ``torch.distributed.nn`` before any group exists and drops its DDP wrapper after
training.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.distributed.nn  # before any process group exists: see "Shutdown" above
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from prune4rel.data import NoisyDataset
from prune4rel.devices import DeviceError, resolve_device
from prune4rel.learners import LEARNERS, Callback, EpochRecorder, Learner, TrainingLoop
from prune4rel.metrics import index_digest
from prune4rel.signals import Signals
from prune4rel.warmup import warmup, warmup_signals

__all__ = [
    "DDPLoop",
    "DistContext",
    "ddp_predict",
    "ddp_warmup",
    "distributed",
    "shard_epoch",
]


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in the job.

    Attributes
    ----------
    rank, world_size, local_rank : int
        From torchrun's ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (0, 1, 0 in one process).
    device : torch.device
        This process's device (``cuda:LOCAL_RANK`` on GPUs).
    backend : str or None
        The process group's backend; None for one process.
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None


def _world() -> tuple[int, int]:
    """(rank, world size) of the default process group, (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _resolve_device(device: str | torch.device, local_rank: int, world_size: int) -> torch.device:
    """This process's device, resolved: under torchrun (``world_size > 1``) CUDA means
    ``cuda:LOCAL_RANK``."""
    dev = resolve_device(device)
    if dev.type != "cuda" or world_size == 1:
        return dev
    try:
        return resolve_device(torch.device("cuda", local_rank))
    except DeviceError as exc:
        raise ValueError(
            f"`device` {str(device)!r}: this process needs cuda:{local_rank} (LOCAL_RANK), but "
            f"{exc.allowed}; start at most that many processes per node"
        ) from None


@contextmanager
def distributed(device: str | torch.device = "auto", backend: str | None = None) -> Iterator[DistContext]:
    """Join the torchrun job described by the environment, and leave it on exit.

    Parameters
    ----------
    device : str or torch.device
        "auto" (CUDA when available), "cpu" or "cuda". Under torchrun, CUDA means
        ``cuda:LOCAL_RANK``.
    backend : str, optional
        Process-group backend; default "nccl" for CUDA, "gloo" for CPU.

    Yields
    ------
    DistContext
        With ``world_size == 1`` and no process group when ``WORLD_SIZE`` is unset or 1
        (started without torchrun): everything then runs in this one process. A process
        group that already exists is used as it is and left open. A group created here is
        left with a barrier and destroyed (at once when the block raises), see "Shutdown"
        in the module docstring.

    Raises
    ------
    ValueError
        For a CUDA device that does not exist, or malformed torchrun variables.
    """
    created = False
    if dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", rank))
    else:
        try:
            world = int(os.environ.get("WORLD_SIZE", "1"))
            rank = int(os.environ.get("RANK", "0"))
            local = int(os.environ.get("LOCAL_RANK", "0"))
        except ValueError:
            raise ValueError("WORLD_SIZE, RANK and LOCAL_RANK must be integers (set by torchrun)") from None
    dev = _resolve_device(device, local, world)
    if world > 1 and dev.type == "cuda":  # also for a caller's group: nccl uses the current GPU
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        backend = backend or ("nccl" if dev.type == "cuda" else "gloo")
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
        created = True
    ctx = DistContext(rank, world, local, dev, dist.get_backend() if world > 1 else None)
    try:
        yield ctx
    except BaseException:
        if created:  # the other ranks may never reach a barrier: leave at once
            dist.destroy_process_group()
        raise
    if created:
        dist.barrier()
        dist.destroy_process_group()


def _comm_device(device: torch.device) -> torch.device:
    """Where collective buffers live: the GPU under nccl, the CPU otherwise."""
    return device if dist.get_backend() == "nccl" else torch.device("cpu")


def _steps(m: int, world_size: int, batch_size: int) -> int:
    if m < world_size:
        raise ValueError(f"DDP training needs at least one example per rank: {m} examples, "
                         f"{world_size} ranks")
    return max(1, min(math.ceil(m / (world_size * batch_size)), m // world_size))


def shard_epoch(order: torch.Tensor, world_size: int, batch_size: int) -> list[tuple[torch.Tensor, ...]]:
    """Cut one epoch's order into global batches, each split across the ranks.

    Parameters
    ----------
    order : Tensor of int64, shape (m,)
        Dataset indices in training order (``m >= world_size``).
    world_size : int
    batch_size : int
        Per-rank batch size ``b``.

    Returns
    -------
    list of tuple of Tensor
        ``S = min(ceil(m / (world_size * b)), m // world_size)`` entries (steps); entry
        ``s`` holds ``world_size`` contiguous parts of the ``s``-th of ``S`` near-equal
        global batches, rank ``r`` trains part ``r``. No part is empty and sizes differ by
        at most one.

    Raises
    ------
    ValueError
        When ``m < world_size``.
    """
    steps = _steps(order.numel(), world_size, batch_size)
    return [torch.tensor_split(g, world_size) for g in torch.tensor_split(order, steps)]


class DDPLoop(TrainingLoop):
    """The :class:`~prune4rel.learners.TrainingLoop` of one rank of a DDP job.

    Installed on a learner by :func:`ddp_warmup`; see the module docstring for the batching
    and the per-example state (the tensors the learner declares in ``per_example_state``).
    """

    def __init__(self) -> None:
        self.rank, self.world_size = _world()
        self.local_count = 0
        self._owner: torch.Tensor | None = None
        self._ddp: DistributedDataParallel | None = None

    def steps_per_epoch(self, learner: Learner, m: int) -> int:
        return _steps(m, self.world_size, learner.batch_size)

    def batches(self, learner: Learner, idx: torch.Tensor) -> list[torch.Tensor]:
        m = idx.numel()
        comm = _comm_device(learner.device)
        if self.rank == 0:
            perm = torch.randperm(m, generator=learner.generator).to(comm)
        else:
            perm = torch.empty(m, dtype=torch.int64, device=comm)
        dist.broadcast(perm, src=0)
        parts = shard_epoch(idx[perm.to(idx.device)], self.world_size, learner.batch_size)
        n = learner.num_examples
        assert n is not None  # bound by fit before the first epoch
        owner = torch.zeros(n, dtype=torch.int64, device=idx.device)  # untrained rows: rank 0
        for step in parts:
            for r, part in enumerate(step):
                owner[part] = r
        self._owner = owner
        mine = [step[self.rank] for step in parts]
        self.local_count = sum(b.numel() for b in mine)
        return mine

    def release(self) -> None:
        """Drop the DDP wrapper (and its hold on the process group) once training is over."""
        self._ddp = None

    def _wrap(self, model: nn.Module) -> DistributedDataParallel:
        if self._ddp is None or self._ddp.module is not model:
            dev = next(model.parameters()).device
            self._ddp = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
        return self._ddp

    @contextmanager
    def epoch(self, learner: Learner) -> Iterator[None]:
        model = learner.model
        assert model is not None  # built by fit before the first epoch
        learner.model = self._wrap(model)
        try:
            yield
        finally:
            learner.model = model
        self._sync_state(learner)

    @torch.no_grad()
    def _sync_state(self, learner: Learner) -> None:
        """Give every rank each example's rows of the declared per-example state from the rank
        that trained it."""
        if not learner.per_example_state or self._owner is None:
            return
        comm = _comm_device(learner.device)
        tensors = learner.per_example_tensors()
        for field in learner.per_example_state:
            value = tensors[field.name]
            shape = [1] * value.ndim
            shape[field.axis] = -1
            mine = (self._owner == self.rank).to(value.device).view(shape)
            kept = torch.where(mine, value, torch.zeros((), dtype=value.dtype, device=value.device))
            # one rank adds its rows, the others zeros: exact in the reduction dtype
            if value.dtype == torch.bool:
                buf = kept.to(comm, torch.uint8)
            elif value.is_floating_point():
                buf = kept.to(comm, torch.promote_types(value.dtype, torch.float32))
            else:
                buf = kept.to(comm)
            dist.all_reduce(buf)
            value.copy_(buf.to(value.device, value.dtype))


class _GlobalLog(Callback):
    """Turns each epoch log's ``loss`` / ``train_acc_given`` into means over all ranks."""

    def __init__(self, loop: DDPLoop) -> None:
        self.loop = loop

    def on_epoch_end(self, learner: Learner, epoch: int, logs: dict[str, Any]) -> None:
        seen = float(self.loop.local_count)
        t = torch.tensor([logs["loss"] * seen, logs["train_acc_given"] * seen, seen], dtype=torch.float64)
        t = t.to(_comm_device(learner.device))
        dist.all_reduce(t)
        logs["loss"], logs["train_acc_given"] = float(t[0] / t[2]), float(t[1] / t[2])


def _check_same_on_all_ranks(what: dict[str, Any]) -> None:
    """Raise (on every rank, so that none hangs) unless all ranks pass equal ``what``."""
    everyone: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, what)
    for r, other in enumerate(everyone):
        diff = sorted(k for k in what if other.get(k) != everyone[0].get(k))
        if diff:
            raise ValueError(
                f"DDP ranks disagree on {', '.join(diff)} (rank 0: "
                f"{[everyone[0][k] for k in diff]}, rank {r}: {[other[k] for k in diff]}); "
                "every rank must build the same learner on the same dataset"
            )


def _check_supported(learner: Learner) -> None:
    """Raise ValueError unless ``learner`` declares that data-parallel training is exact for it."""
    if not isinstance(learner, Learner):
        raise ValueError(f"`learner` must be a prune4rel Learner, got {type(learner).__name__}")
    if not learner.data_parallel:
        names = ", ".join(sorted({cls.__name__ for cls in LEARNERS.values() if cls.data_parallel}))
        raise ValueError(
            f"{type(learner).__name__} is not supported under DDP (supported: {names}). SOP/SOP+ "
            "train per-example parameters with batch-mean gradients and a batch-level balance "
            "term, and DivideMix co-divides with its own epoch loop; under DDP these would "
            "follow per-rank batches. Warm up with CE (or ELR), or run in one process"
        )


def _sum_over_ranks(arr: np.ndarray, device: torch.device) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(arr)).to(_comm_device(device))
    dist.all_reduce(t)
    return t.cpu().numpy()


def _gather_histories(
    recorder: EpochRecorder, device: torch.device
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge the ranks' (E, N) records into (losses, correct, margins): each example's value
    comes from the rank that trained it (the others hold NaN / False there); never-trained
    examples stay NaN."""
    merged: dict[str, np.ndarray] = {}
    for name, arr in (("losses", recorder.losses), ("margins", recorder.margins)):
        trained = ~np.isnan(arr)
        total = _sum_over_ranks(np.where(trained, arr, 0.0).astype(np.float32), device)
        count = _sum_over_ranks(trained.astype(np.uint8), device)
        merged[name] = np.where(count > 0, total, np.nan).astype(np.float32)
    correct = _sum_over_ranks(recorder.correct.astype(np.uint8), device) > 0
    return merged["losses"], correct, merged["margins"]


def ddp_warmup(
    learner: Learner,
    dataset: NoisyDataset,
    epochs: int,
    record: bool = True,
    progress: bool = True,
) -> Signals:
    """:func:`~prune4rel.warmup.train` with the data sharded over the ranks of a DDP job.

    Call it on every rank, with the same learner arguments (``device`` = this rank's, see
    :func:`distributed`) and the same dataset. Without a process group (or with one rank)
    it is exactly :func:`~prune4rel.warmup.train`.

    Parameters
    ----------
    learner : Learner
        A learner that declares ``data_parallel``; ``batch_size`` is per rank (global batch
        ``world_size * batch_size``). It keeps its trained weights (identical on all ranks)
        and is left single-process afterwards.
    dataset : NoisyDataset
    epochs : int
    record : bool
        Record per-epoch loss, correctness and margin of every example.
    progress : bool
        Progress bars (rank 0 only).

    Returns
    -------
    Signals
        The same on every rank: ``labels`` (N,), ``probs`` (N, C) and ``embeddings`` (N, d)
        from a sharded eval-mode pass, ``losses`` / ``correct`` / ``margins`` (E, N) when
        ``record``; ``meta`` adds ``world_size`` and ``global_batch_size``.

    Raises
    ------
    ValueError
        For an unsupported learner, ranks that disagree on the learner or dataset, or fewer
        examples than ranks.
    """
    rank, world = _world()
    if world == 1:
        return warmup(learner, dataset, epochs, record=record, progress=progress)
    _check_supported(learner)
    if not isinstance(dataset, NoisyDataset):
        raise ValueError(f"`dataset` must be a prune4rel NoisyDataset, got {type(dataset).__name__}")
    settings = {k: v for k, v in learner.get_params().items() if isinstance(v, (bool, int, float, str))}
    _check_same_on_all_ranks({
        **settings, "model": learner.model_spec if isinstance(learner.model_spec, str) else None,
        "learner": type(learner).__name__, "epochs": int(epochs), "record": bool(record),
        "n": dataset.n, "labels": index_digest(dataset.noisy_labels),
    })
    start = time.perf_counter()
    if rank > 0:  # own augmentation stream; the order comes from rank 0
        learner.generator.manual_seed(int(np.random.SeedSequence([learner.seed, rank]).generate_state(1)[0]))
    loop = DDPLoop()
    recorder = EpochRecorder() if record else None
    callbacks: list[Callback] = [_GlobalLog(loop)] + ([recorder] if recorder else [])
    previous = learner.training_loop
    learner.training_loop = loop
    try:
        learner.fit(dataset, None, epochs, progress=progress and rank == 0, callbacks=callbacks)
    finally:
        learner.training_loop = previous
        loop.release()
    histories = _gather_histories(recorder, learner.device) if recorder is not None else None
    probs, embeddings = ddp_predict(learner, dataset)
    return warmup_signals(
        learner, dataset, epochs, probs, embeddings, histories, time.perf_counter() - start,
        producer="prune4rel.distributed.ddp", world_size=world,
        global_batch_size=world * learner.batch_size,
    )


def ddp_predict(
    learner: Learner, inputs: np.ndarray | NoisyDataset, batch_size: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`Learner.predict` with the inputs sharded over the ranks.

    Rank ``r`` predicts the ``r``-th of ``world_size`` contiguous near-equal shards; the
    outputs are all-gathered in input order. Call it on every rank with the same inputs
    and a learner holding the same weights. One process: plain ``predict``.

    Parameters
    ----------
    learner : Learner
        A fitted learner.
    inputs : ndarray, shape (N, ...), or NoisyDataset
        As for :meth:`Learner.predict` (a dataset means its training inputs).
    batch_size : int, optional
        Evaluation batch per rank.

    Returns
    -------
    probs : ndarray of float32, shape (N, C)
    embeddings : ndarray of float32, shape (N, d)
        The same on every rank.
    """
    rank, world = _world()
    if world == 1:
        return learner.predict(inputs, batch_size)
    x = inputs.x if isinstance(inputs, NoisyDataset) else np.asarray(inputs)
    bounds = np.linspace(0, x.shape[0], world + 1).round().astype(np.int64)
    lo, hi = int(bounds[rank]), int(bounds[rank + 1])
    # an empty shard still runs one row, so that every rank knows C and d
    probs, emb = learner.predict(x[lo:hi] if hi > lo else x[:1], batch_size)
    sizes = np.diff(bounds)
    comm = _comm_device(learner.device)
    out = []
    for arr in (probs, emb):
        local = torch.zeros((int(sizes.max()), arr.shape[1]), dtype=torch.float32, device=comm)
        local[: hi - lo] = torch.from_numpy(arr[: hi - lo]).to(comm)
        parts = [torch.empty_like(local) for _ in range(world)]
        dist.all_gather(parts, local)
        out.append(torch.cat([p[: int(s)] for p, s in zip(parts, sizes)]).cpu().numpy())
    return out[0], out[1]
