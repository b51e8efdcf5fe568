"""The :class:`Learner` interface and the shared training loop.

A learner owns a network and any per-example state (ELR's targets, SOP's ``u``/``v``),
always indexed by *dataset* index, so it can be trained on any subset of a dataset and
asked about any example. The public surface is small:

- :meth:`Learner.fit` trains on ``dataset`` restricted to ``indices``;
- :meth:`Learner.predict` returns eval-mode ``(probs (N, C), embeddings (N, d))``;
- :meth:`Learner.corrected_labels` returns the learner's current label for every training
  example (given labels for plain CE; the argmax of the label estimate for re-labeling
  learners);
- :meth:`Learner.evaluate` / :meth:`Learner.relabel_accuracy` for reports.

Subclasses implement :meth:`Learner._train_step` (one batch -> loss and logits) and, when
they keep per-example state, :meth:`Learner._init_state`. A learner with two networks
(DivideMix) overrides :meth:`_build_model`, :meth:`_make_optimizers`,
:meth:`_train_epoch` and :meth:`_forward_eval` instead.
"""

from __future__ import annotations

import hashlib
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from prune4rel.data import Augment, InputPipeline, NoisyDataset, default_augment
from prune4rel.learners.callbacks import Callback
from prune4rel.models import build_model

__all__ = ["Batch", "Learner", "ModelSpec", "TrainingLoop"]

#: A model given as a registry name, a ready module, or a factory ``f(dataset) -> module``.
ModelSpec = str | nn.Module | Callable[[NoisyDataset], nn.Module]
_SCHEDULES = ("constant", "cosine", "triangle")
#: storage dtypes of the per-example state (``state_dtype``)
_STATE_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
}
_STATE_DEVICES = (None, "auto", "cpu")


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


def _positive(name: str, value: Any, integer: bool = False, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and integer:
        ok = int(value) == value
    if not ok or value < 0 or (value == 0 and not allow_zero):
        kind = "integer" if integer else "number"
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"`{name}` must be a {kind} {bound}, got {value!r}")


class LearnerStateError(ValueError):
    """A :meth:`Learner.state_dict` that does not fit the learner or the ``fit`` call
    resuming from it; raised at the start of that ``fit``, before any epoch runs."""


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
        order = idx[torch.randperm(idx.numel(), generator=learner._gen).to(idx.device)]
        return torch.tensor_split(order, self.steps_per_epoch(learner, idx.numel()))

    def epoch(self, learner: Learner) -> AbstractContextManager[None]:
        """Context around one training epoch (:meth:`Learner._train_epoch`)."""
        return nullcontext()


class Learner(ABC):
    """Base class of the training methods (CE, ELR, SOP+, later DivideMix).

    Parameters
    ----------
    model : str, nn.Module or callable, default "auto"
        A :func:`~prune4rel.models.build_model` name, a module following the
        :class:`~prune4rel.models.EmbeddingModel` contract, or ``f(dataset) -> module``.
        ``"auto"``: "mlp" for features, "small_cnn" for images smaller than 32 pixels,
        "airbench" otherwise.
    batch_size : int
    lr : float
        Peak learning rate of the network's SGD.
    momentum, weight_decay : float
    nesterov : bool
    schedule : {"cosine", "triangle", "constant"}
        Per-step learning-rate schedule over each ``fit`` call: cosine decay to
        ``min_lr_ratio * lr``; "triangle" = linear warm-up over the first
        ``warmup_fraction`` of the steps, then linear decay to ``min_lr_ratio * lr``.
    min_lr_ratio, warmup_fraction : float
    label_smoothing : float
        For the cross-entropy terms of CE and ELR.
    augment : "auto", None or Augment
        Views of each batch; "auto" uses :func:`~prune4rel.data.default_augment`, None
        disables augmentation.
    amp : bool
        bf16 autocast on CUDA (ignored on CPU).
    tta : bool
        Average the logits of each image and its horizontal flip in :meth:`predict`.
    device : str or torch.device
    seed : int
        Seeds the model's initialisation, the shuffling and the augmentations: on CPU the
        same seed gives bit-identical results.
    eval_batch_size : int
    model_kwargs : dict, optional
        Extra arguments for :func:`~prune4rel.models.build_model`.
    num_threads : int, optional
        CPU threads torch may use inside :meth:`fit` and :meth:`predict` (restored
        afterwards). Small models on a busy machine train many times faster with 1 thread
        than with several; None leaves torch's setting alone.
    state_dtype : {"float32", "float16", "bfloat16"}
        Storage dtype of the per-example state (SOP's ``u``/``v``, ELR's targets, DivideMix's
        clean probabilities and targets; each learner documents its bytes per example).
        Each batch gathers its rows to ``device`` as float32, does the math there and
        stores the result back rounded to this dtype. "float16" halves the memory of
        "float32"; "bfloat16" does too and keeps float32's exponent range, with 8 bits of
        precision instead of float16's 11. Boolean flags and labels keep their dtypes.
    state_device : {None, "auto", "cpu"}
        Where the per-example state lives: None / "auto" = ``device``; "cpu" keeps it in
        host memory when training on a GPU (only each batch's rows travel to the GPU).
    """

    name: ClassVar[str] = "learner"
    #: whether :meth:`_train_step` needs ``Batch.x_strong``
    uses_strong_view: bool = False
    #: batching of each epoch; replaced per instance for data-parallel training
    training_loop: TrainingLoop = TrainingLoop()

    def __init__(
        self,
        model: ModelSpec = "auto",
        *,
        batch_size: int = 128,
        lr: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        nesterov: bool = True,
        schedule: str = "cosine",
        min_lr_ratio: float = 0.0,
        warmup_fraction: float = 0.2,
        label_smoothing: float = 0.0,
        augment: str | Augment | None = "auto",
        amp: bool = False,
        tta: bool = False,
        device: str | torch.device = "cpu",
        seed: int = 0,
        eval_batch_size: int = 1024,
        model_kwargs: dict[str, Any] | None = None,
        num_threads: int | None = None,
        state_dtype: str = "float32",
        state_device: str | None = None,
    ) -> None:
        _positive("batch_size", batch_size, integer=True)
        if num_threads is not None:
            _positive("num_threads", num_threads, integer=True)
        _positive("eval_batch_size", eval_batch_size, integer=True)
        _positive("lr", lr)
        _positive("momentum", momentum, allow_zero=True)
        _positive("weight_decay", weight_decay, allow_zero=True)
        _positive("min_lr_ratio", min_lr_ratio, allow_zero=True)
        if schedule not in _SCHEDULES:
            raise ValueError(f"`schedule` must be one of {_SCHEDULES}, got {schedule!r}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"`label_smoothing` must be in [0, 1), got {label_smoothing!r}")
        if not 0.0 <= warmup_fraction < 1.0:
            raise ValueError(f"`warmup_fraction` must be in [0, 1), got {warmup_fraction!r}")
        if not (augment is None or augment == "auto" or isinstance(augment, Augment)):
            raise ValueError(f"`augment` must be 'auto', None or an Augment, got {augment!r}")
        if not isinstance(state_dtype, str) or state_dtype not in _STATE_DTYPES:
            raise ValueError(f"`state_dtype` must be one of {list(_STATE_DTYPES)}, got {state_dtype!r}")
        if not (state_device is None or isinstance(state_device, str)) or state_device not in _STATE_DEVICES:
            raise ValueError(f"`state_device` must be one of {list(_STATE_DEVICES)}, got {state_device!r}")
        self.model_spec = model
        self.batch_size = int(batch_size)
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self.nesterov = bool(nesterov) and momentum > 0
        self.schedule = schedule
        self.min_lr_ratio = float(min_lr_ratio)
        self.warmup_fraction = float(warmup_fraction)
        self.label_smoothing = float(label_smoothing)
        self.augment_spec = augment
        self.amp = bool(amp)
        self.tta = bool(tta)
        self.device = torch.device(device)
        self.seed = int(seed)
        self.eval_batch_size = int(eval_batch_size)
        self.model_kwargs = dict(model_kwargs or {})
        self.num_threads = None if num_threads is None else int(num_threads)
        self.state_dtype = _STATE_DTYPES[state_dtype]
        self.state_device = torch.device("cpu") if state_device == "cpu" else self.device
        self.reset()

    # ------------------------------------------------------------------ lifecycle
    def reset(self) -> None:
        """Forget the model, the per-example state and the history."""
        self.model: nn.Module | None = None
        self.history: list[dict[str, Any]] = []
        self._gen = torch.Generator().manual_seed(self.seed)
        self._n: int | None = None
        self._num_classes: int | None = None
        self._input_shape: tuple[int, ...] | None = None
        self._pipeline: InputPipeline | None = None
        self._augment: Augment = Augment()
        self._raw: torch.Tensor | None = None
        self._labels: torch.Tensor | None = None
        self._clean: np.ndarray | None = None
        self._bound_to: int | None = None
        self._epochs_done = 0
        # checkpointing (state_dict / load_state_dict)
        self._optimizers: list[tuple[torch.optim.Optimizer, bool]] = []
        self._fit_progress: dict[str, Any] = {}
        self._pending_state: dict[str, Any] | None = None

    def _bind(self, dataset: NoisyDataset, indices: np.ndarray) -> None:
        """Attach to ``dataset``: build the model and state on first use, upload inputs."""
        if not isinstance(dataset, NoisyDataset):
            raise ValueError(f"`dataset` must be a prune4rel NoisyDataset, got {type(dataset).__name__}")
        if self._n is not None and (
            dataset.n != self._n
            or dataset.num_classes != self._num_classes
            or dataset.input_shape != self._input_shape
        ):
            raise ValueError(
                f"this learner holds state for a dataset with n={self._n}, "
                f"classes={self._num_classes}, input={self._input_shape}; got {dataset!r}. "
                "Use a new learner (or call reset()) for another dataset"
            )
        first = self._n is None
        if first:
            self._n, self._num_classes = dataset.n, dataset.num_classes
            self._input_shape = dataset.input_shape
            mean, std = dataset.normalization()
            self._pipeline = InputPipeline(mean, std, dataset.is_image, self.device)
            if self.augment_spec == "auto":
                self._augment = default_augment(dataset.input_shape)
            elif isinstance(self.augment_spec, Augment):
                self._augment = self.augment_spec
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                self.model = self._build_model(dataset)
            self._init_state(dataset.n, dataset.num_classes)
        if self._bound_to != id(dataset):
            assert self._pipeline is not None
            self._raw = self._pipeline.stage(dataset.x)
            self._labels = torch.as_tensor(dataset.noisy_labels, device=self.device)
            self._clean = None if dataset.clean_labels is None else dataset.clean_labels.copy()
            self._bound_to = id(dataset)
        if first:
            self._init_from_data(indices)

    def _resolve_model_spec(self, dataset: NoisyDataset) -> nn.Module:
        spec = self.model_spec
        if isinstance(spec, nn.Module):
            return spec
        if callable(spec) and not isinstance(spec, str):
            return spec(dataset)
        name = str(spec)
        if name == "auto":
            if not dataset.is_image:
                name = "mlp"
            else:
                name = "small_cnn" if min(dataset.input_shape[1:]) < 32 else "airbench"
        return build_model(
            name, dataset.num_classes, dataset.in_channels,
            input_shape=dataset.input_shape, **self.model_kwargs,
        )

    def _build_model(self, dataset: NoisyDataset) -> nn.Module:
        """Create the network (called once, under the learner's seed)."""
        model = self._resolve_model_spec(dataset)
        for attr in ("embed", "forward"):
            if not callable(getattr(model, attr, None)):
                raise ValueError(f"the model must define `{attr}(x)` (see prune4rel.models.EmbeddingModel)")
        return model.to(self.device)

    def _init_from_data(self, indices: np.ndarray) -> None:
        """Let a model initialise from data (airbench's whitening) once, before training."""
        init = getattr(self.model, "init_from_data", None)
        if init is None:
            return
        rng = np.random.default_rng(self.seed)
        sample = rng.choice(indices, size=min(len(indices), 5000), replace=False)
        x = self._inputs(torch.as_tensor(np.sort(sample), device=self.device))
        init(x)

    def _init_state(self, n: int, num_classes: int) -> None:  # noqa: B027 - optional hook
        """Allocate per-example state for ``n`` dataset examples (default: none)."""

    # ------------------------------------------------------------------ per-example state
    def _new_state(self, *shape: int, fill: float = 0.0, dtype: torch.dtype | None = None) -> torch.Tensor:
        """A per-example tensor of ``shape`` filled with ``fill``, on ``state_device``, in
        ``state_dtype`` (or ``dtype``, e.g. ``torch.bool`` for flags)."""
        return torch.full(shape, fill, dtype=dtype or self.state_dtype, device=self.state_device)

    def _state_rows(self, state: torch.Tensor, idx: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        """Rows ``idx`` (dataset indices, shape (B,)) of a per-example tensor ``state`` of
        shape (N, ...), as a new float32 tensor (B, ...) on ``device``, divided by ``scale``."""
        rows = state[idx.to(state.device)].to(self.device, torch.float32)
        return rows / scale if scale != 1.0 else rows

    def _set_state_rows(
        self, state: torch.Tensor, idx: torch.Tensor, values: torch.Tensor, scale: float = 1.0
    ) -> None:
        """Store ``values`` (B, ...) times ``scale`` into rows ``idx`` (B,) of ``state``
        (N, ...), rounded to its dtype; a value beyond a 16-bit dtype's range saturates at
        its largest finite value instead of becoming infinite."""
        if scale != 1.0:
            values = values * scale
        if values.dtype != state.dtype:
            big = torch.finfo(state.dtype).max
            values = values.clamp(-big, big).to(state.dtype)
        state[idx.to(state.device)] = values.to(state.device)

    # ------------------------------------------------------------------ training
    def _inputs(self, idx: torch.Tensor) -> torch.Tensor:
        assert self._raw is not None and self._pipeline is not None
        return self._pipeline.gather(self._raw, idx)

    def _make_batch(self, idx: torch.Tensor) -> Batch:
        assert self._labels is not None
        x = self._inputs(idx)
        weak = self._augment.weak(x, self._gen)
        strong = self._augment.strong(x, self._gen) if self.uses_strong_view else None
        return Batch(idx=idx, x=weak, y=self._labels[idx], x_strong=strong)

    def _make_optimizers(self) -> list[tuple[torch.optim.Optimizer, bool]]:
        """Optimizers and whether each follows the learning-rate schedule."""
        assert self.model is not None
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.SGD(
            params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay,
            nesterov=self.nesterov,
        )
        return [(opt, True)]

    def _lr_factor(self, step: int, total: int) -> float:
        t = step / max(1, total)
        low = self.min_lr_ratio
        if self.schedule == "constant":
            return 1.0
        if self.schedule == "cosine":
            return low + (1 - low) * 0.5 * (1 + math.cos(math.pi * t))
        w = self.warmup_fraction
        if w > 0 and t < w:
            return t / w
        return low + (1 - low) * max(0.0, (1 - t) / (1 - w))

    @contextmanager
    def _threads(self) -> Iterator[None]:
        if self.num_threads is None:
            yield
            return
        before = torch.get_num_threads()
        torch.set_num_threads(self.num_threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def _autocast(self) -> Any:
        if self.amp and self.device.type == "cuda":
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return nullcontext()

    @abstractmethod
    def _train_step(self, batch: Batch, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss of one batch.

        Returns
        -------
        loss : Tensor, scalar
            To be minimised (the base class runs backward and the optimizer steps).
        logits : Tensor, shape (B, C)
            Training-mode logits of the weak view ``batch.x`` (for logging and recorders).
        """

    def _train_epoch(
        self, epoch: int, idx: torch.Tensor, optimizers: list[tuple[torch.optim.Optimizer, bool]],
        step0: int, total_steps: int, callbacks: Sequence[Callback],
    ) -> dict[str, Any]:
        """One pass over ``idx`` in a seeded random order; returns the epoch's log."""
        assert self.model is not None
        self.model.train()
        loss_sum, hits, seen = 0.0, 0, 0
        step = step0
        for bidx in self.training_loop.batches(self, idx):
            factor = self._lr_factor(step, total_steps)
            for opt, scheduled in optimizers:
                if scheduled:
                    for group in opt.param_groups:
                        group["lr"] = group.setdefault("initial_lr", group["lr"]) * factor
            batch = self._make_batch(bidx)
            with self._autocast():
                loss, logits = self._train_step(batch, epoch)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"{self.name}: non-finite loss at epoch {epoch}, step {step}; lower `lr`"
                )
            for opt, _ in optimizers:
                opt.zero_grad(set_to_none=True)
            loss.backward()
            for opt, _ in optimizers:
                opt.step()
            logits = logits.detach().float()
            for cb in callbacks:
                cb.on_batch_end(self, epoch, bidx, logits)
            b = bidx.numel()
            loss_sum += float(loss.detach()) * b
            hits += int((logits.argmax(1) == batch.y).sum())
            seen += b
            step += 1
        return {
            "loss": loss_sum / max(1, seen),
            "train_acc_given": hits / max(1, seen),
            "lr": self.lr * self._lr_factor(step, total_steps),
            "steps": step - step0,
        }

    def fit(
        self,
        dataset: NoisyDataset,
        indices: np.ndarray | Sequence[int] | None = None,
        epochs: int = 10,
        progress: bool = True,
        callbacks: Sequence[Callback] = (),
    ) -> list[dict[str, Any]]:
        """Train on the examples ``indices`` of ``dataset`` for ``epochs`` epochs.

        Calling ``fit`` again continues from the current weights and state, with fresh
        optimizers and a fresh learning-rate schedule.

        Parameters
        ----------
        dataset : NoisyDataset
        indices : array-like of int, shape (m,), optional
            Distinct dataset indices to train on; all examples when None.
        epochs : int
            Number of passes over ``indices`` (>= 1).
        progress : bool
            Show a tqdm bar over epochs.
        callbacks : sequence of Callback
            E.g. an :class:`~prune4rel.learners.EpochRecorder`.

        Returns
        -------
        list of dict
            One log per epoch: ``epoch``, ``loss``, ``train_acc_given`` (vs given labels),
            ``lr``, ``seconds``, and ``relabel_acc`` on ``indices`` when clean labels are
            known. Also appended to :attr:`history`.

        Raises
        ------
        ValueError
            For a non-dataset, indices out of range / repeated / empty, or ``epochs < 1``.
        """
        _positive("epochs", epochs, integer=True)
        if not isinstance(dataset, NoisyDataset):
            raise ValueError(f"`dataset` must be a prune4rel NoisyDataset, got {type(dataset).__name__}")
        idx_np = self._check_indices(indices, dataset.n)
        with self._threads():
            return self._fit(dataset, idx_np, int(epochs), progress, callbacks)

    def _fit(
        self, dataset: NoisyDataset, idx_np: np.ndarray, epochs: int, progress: bool,
        callbacks: Sequence[Callback],
    ) -> list[dict[str, Any]]:
        self._bind(dataset, idx_np)
        idx = torch.as_tensor(idx_np, device=self.device)
        optimizers = self._make_optimizers()
        self._optimizers = optimizers
        first = 0
        if self._pending_state is not None:
            pending, self._pending_state = self._pending_state, None
            first = self._restore_state(pending, optimizers, idx_np, int(epochs))
        self._fit_progress = {"epoch": first, "epochs": int(epochs), "indices": _fingerprint(idx_np)}
        n_batches = self.training_loop.steps_per_epoch(self, idx_np.size)
        total = int(epochs) * n_batches
        for cb in callbacks:
            cb.on_fit_start(self, dataset, idx_np, int(epochs))
        logs: list[dict[str, Any]] = []
        bar = tqdm(
            range(first, int(epochs)), desc=f"{self.name} fit", disable=not progress, leave=False,
            initial=first, total=int(epochs),
        )
        for e in bar:
            start = time.perf_counter()
            with self.training_loop.epoch(self):
                log = self._train_epoch(self._epochs_done, idx, optimizers, e * n_batches, total, callbacks)
            log = {"epoch": self._epochs_done, **log, "seconds": time.perf_counter() - start}
            if self._clean is not None:
                log["relabel_acc"] = self.relabel_accuracy(idx_np)
            self._epochs_done += 1
            self._fit_progress["epoch"] = e + 1
            logs.append(log)
            self.history.append(log)
            bar.set_postfix(loss=f"{log['loss']:.3f}", refresh=False)
            for cb in callbacks:
                cb.on_epoch_end(self, log["epoch"], log)
        for cb in callbacks:
            cb.on_fit_end(self, logs)
        return logs

    @staticmethod
    def _check_indices(indices: Any, n: int) -> np.ndarray:
        if indices is None:
            return np.arange(n, dtype=np.int64)
        arr = np.asarray(indices)
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"`indices` must be a non-empty 1-D array, got shape {arr.shape}")
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"`indices` must hold integers, got dtype {arr.dtype}")
        if arr.min() < 0 or arr.max() >= n:
            bad = int(arr.min()) if arr.min() < 0 else int(arr.max())
            raise ValueError(f"`indices` holds {bad}, outside [0, n={n})")
        if np.unique(arr).size != arr.size:
            raise ValueError("`indices` holds repeated examples; pass distinct dataset indices")
        return arr.astype(np.int64)

    # ------------------------------------------------------------------ inference
    def _require_fitted(self) -> None:
        if self.model is None:
            raise ValueError(f"{type(self).__name__} is not fitted yet: call fit(dataset, ...) first")

    def _forward_eval(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eval-mode ``(embeddings, logits)`` of a normalised batch (TTA on logits)."""
        model: Any = self.model  # an EmbeddingModel: embed() and optionally head()
        assert model is not None
        z = model.embed(x)
        logits = model.head(z) if hasattr(model, "head") else model(x)
        if self.tta and x.ndim == 4:
            logits = 0.5 * (logits + model(x.flip(3)))
        return z, logits

    @torch.no_grad()
    def predict(
        self, inputs: np.ndarray | NoisyDataset, batch_size: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Eval-mode softmax probabilities and embeddings.

        Parameters
        ----------
        inputs : ndarray, shape (N, H, W, C) uint8 or (N, F) float, or NoisyDataset
            Raw inputs in the training layout; a NoisyDataset means its training inputs.
        batch_size : int, optional
            Defaults to ``eval_batch_size``.

        Returns
        -------
        probs : ndarray of float32, shape (N, C)
        embeddings : ndarray of float32, shape (N, d)
        """
        self._require_fitted()
        assert self.model is not None and self._pipeline is not None
        x_np = inputs.x if isinstance(inputs, NoisyDataset) else np.asarray(inputs)
        if tuple(x_np.shape[1:]) != self._raw_shape():
            raise ValueError(
                f"`inputs` rows have shape {tuple(x_np.shape[1:])}, the learner was trained on "
                f"{self._raw_shape()}"
            )
        bs = int(batch_size or self.eval_batch_size)
        self.model.eval()
        probs, embs = [], []
        with self._threads():
            for start in range(0, x_np.shape[0], bs):
                raw = self._pipeline.upload(x_np[start : start + bs])
                with self._autocast():
                    z, logits = self._forward_eval(self._pipeline(raw))
                probs.append(torch.softmax(logits.float(), dim=1).cpu())
                embs.append(z.float().cpu())
        if not probs:
            c = self._num_classes or 0
            return np.zeros((0, c), np.float32), np.zeros((0, 0), np.float32)
        return torch.cat(probs).numpy(), torch.cat(embs).numpy()

    def _raw_shape(self) -> tuple[int, ...]:
        assert self._raw is not None
        return tuple(self._raw.shape[1:])

    def evaluate(self, dataset: NoisyDataset) -> float:
        """Accuracy on ``dataset``'s test set (report it with ``dataset.test_set``)."""
        probs, _ = self.predict(dataset.x_test)
        return float(np.mean(probs.argmax(1) == dataset.y_test))

    # ------------------------------------------------------------------ labels
    def given_labels_tensor(self) -> torch.Tensor:
        """The given (noisy) labels of the bound dataset, (N,) int64 on the device."""
        self._require_fitted()
        assert self._labels is not None
        return self._labels

    def corrected_labels(self) -> np.ndarray:
        """Current label of every training example, shape (N,) int64.

        Plain training does not re-label: the given labels are returned unchanged.
        Re-labeling learners override this with the argmax of their label estimate.
        """
        return self.given_labels_tensor().cpu().numpy().copy()

    def relabel_accuracy(self, indices: np.ndarray | Sequence[int] | None = None) -> float:
        """Share of examples (in ``indices``, default all) whose corrected label is clean.

        Raises
        ------
        ValueError
            When the dataset has no clean labels.
        """
        self._require_fitted()
        if self._clean is None:
            raise ValueError("re-labeling accuracy needs the dataset's `clean_labels`")
        assert self._n is not None
        idx = self._check_indices(indices, self._n)
        return float(np.mean(self.corrected_labels()[idx] == self._clean[idx]))

    # ------------------------------------------------------------------ checkpoints
    #: attributes that hold the bound dataset, not training state
    _DATA_ATTRIBUTES: ClassVar[tuple[str, ...]] = ("_raw", "_labels", "_clean")

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training exactly where it stands.

        Meant to be called between epochs (e.g. from a callback's ``on_epoch_end``) and
        saved with :func:`torch.save`; it holds only tensors, numbers, strings, lists and
        dicts, so ``torch.load(path, weights_only=True)`` reads it back.

        Returns
        -------
        dict
            ``modules``: ``state_dict()`` of every network attribute; ``tensors`` /
            ``arrays``: every tensor / numpy attribute, i.e. the per-example state
            (ELR's targets, SOP's ``u``/``v``), dataset indexed; ``optimizers``: the state of
            the current (or last) ``fit`` call's optimizers; ``generator``, ``numpy_rngs``
            (every :class:`numpy.random.Generator` attribute) and ``torch_rng``: RNG states;
            ``epochs_done``, ``history``; ``fit``: the epoch reached within the current
            ``fit`` call, its number of epochs and a fingerprint of its indices. Values are
            references to live tensors, as in :meth:`torch.nn.Module.state_dict`: save or
            copy them before training on.
        """
        self._require_fitted()
        skip = set(self._DATA_ATTRIBUTES)
        attrs = {k: v for k, v in vars(self).items() if k not in skip}
        return {
            "format": "prune4rel.learner_state",
            "version": 1,
            "learner": type(self).__name__,
            "modules": {k: v.state_dict() for k, v in attrs.items() if isinstance(v, nn.Module)},
            "tensors": {k: v.detach() for k, v in attrs.items() if isinstance(v, torch.Tensor)},
            "arrays": {
                k: torch.from_numpy(np.array(v)) for k, v in attrs.items() if isinstance(v, np.ndarray)
            },
            "optimizers": [opt.state_dict() for opt, _ in self._optimizers],
            "generator": self._gen.get_state(),
            "numpy_rngs": {
                k: v.bit_generator.state for k, v in attrs.items() if isinstance(v, np.random.Generator)
            },
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
            "epochs_done": self._epochs_done,
            "history": [dict(h) for h in self.history],
            "fit": dict(self._fit_progress),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from a :meth:`state_dict` at the start of the next :meth:`fit` call.

        The state is applied by the next ``fit``, once the network and the per-example
        state exist. That call must use the same dataset, the same ``indices`` (same
        order) and the same ``epochs`` as the interrupted one; it then runs only the
        remaining epochs, with the same learning-rate schedule, shuffles and augmentations,
        so on CPU the result is bit-identical to an uninterrupted ``fit``. The learner must
        be constructed with the same arguments as the one that wrote the state. Restoring
        also sets torch's global RNG state (for models that use it, e.g. dropout).

        Raises
        ------
        ValueError
            When ``state`` is not a learner state of this class (immediately), or, as
            :class:`LearnerStateError`, when it does not fit the next ``fit`` (then: other
            indices or epochs, or tensors of other shapes or dtypes, e.g. another
            ``state_dtype``).
        """
        if not isinstance(state, dict) or state.get("format") != "prune4rel.learner_state":
            raise ValueError("`state` is not a prune4rel learner state (from Learner.state_dict())")
        if state.get("learner") != type(self).__name__:
            raise ValueError(f"`state` was written by {state.get('learner')}, not {type(self).__name__}")
        self._pending_state = state

    def _restore_state(
        self, state: dict[str, Any], optimizers: list[tuple[torch.optim.Optimizer, bool]],
        idx_np: np.ndarray, epochs: int,
    ) -> int:
        """Apply a pending :meth:`state_dict`; return the epoch of this fit to continue from.

        Raises
        ------
        LearnerStateError
            When the state does not fit (other indices or epochs, shapes, dtypes, networks,
            optimizers) or misses an entry; the learner may then be partly overwritten.
        """
        try:
            return self._apply_state(state, optimizers, idx_np, epochs)
        except (AttributeError, KeyError, TypeError, RuntimeError, ValueError) as exc:
            raise LearnerStateError(f"the learner state does not fit: {exc}") from exc

    def _apply_state(
        self, state: dict[str, Any], optimizers: list[tuple[torch.optim.Optimizer, bool]],
        idx_np: np.ndarray, epochs: int,
    ) -> int:
        fit = state.get("fit", {})
        if fit.get("epochs") != epochs or fit.get("indices") != _fingerprint(idx_np):
            raise ValueError(
                f"the learner state was saved in a fit over {fit.get('epochs')} epochs on other "
                f"indices or epochs than this fit ({epochs} epochs); resume with the same "
                "dataset, indices and epochs"
            )
        for name, sd in state["modules"].items():
            getattr(self, name).load_state_dict(sd)
        with torch.no_grad():
            for name, value in state["tensors"].items():
                current = getattr(self, name)
                if current.shape != value.shape or current.dtype != value.dtype:
                    raise ValueError(f"state tensor `{name}` is {value.dtype} {tuple(value.shape)}, "
                                     f"expected {current.dtype} {tuple(current.shape)}")
                current.copy_(value)
        for name, value in state["arrays"].items():
            setattr(self, name, value.numpy().copy())
        if len(state["optimizers"]) != len(optimizers):
            raise ValueError("the learner state holds a different number of optimizers")
        for (opt, _), sd in zip(optimizers, state["optimizers"]):
            opt.load_state_dict(sd)
        self._gen.set_state(state["generator"])
        for name, rng_state in state.get("numpy_rngs", {}).items():
            getattr(self, name).bit_generator.state = rng_state
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self._epochs_done = int(state["epochs_done"])
        self.history = [dict(h) for h in state["history"]]
        return int(fit["epoch"])

    def __repr__(self) -> str:
        spec = self.model_spec if isinstance(self.model_spec, str) else type(self.model_spec).__name__
        cls = type(self).__name__
        return f"{cls}(model={spec!r}, lr={self.lr}, seed={self.seed}, device='{self.device}')"


def _fingerprint(indices: np.ndarray) -> str:
    """A short digest of an index array (order matters: it sets the shuffles)."""
    arr = np.ascontiguousarray(indices, dtype=np.int64)
    return f"{arr.size}:{hashlib.sha1(arr.tobytes()).hexdigest()[:16]}"


def cross_entropy(logits: torch.Tensor, y: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy with optional label smoothing (float32 even under autocast)."""
    return F.cross_entropy(logits.float(), y, label_smoothing=smoothing)
