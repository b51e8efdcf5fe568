"""The :class:`Learner` interface: the training contract every method keeps.

A learner owns a network and any per-example state, always indexed by *dataset* index, so
it can be trained on any subset of a dataset (:meth:`Learner.fit`) and asked about any
example (:meth:`Learner.predict`, :meth:`Learner.corrected_labels`). Its parts, one module
each: ``binding`` (the bound dataset and network), ``state`` (declared per-example state and
its storage), ``optim`` (optimiser, learning-rate schedules), ``checkpoint``, ``loop`` (the
epoch loop), ``inference`` and ``runtime`` (device, mixed precision, threads).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Generator, Sequence
from contextlib import closing
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from prune4rel.data import Augment, NoisyDataset
from prune4rel.learners.binding import MODEL_RULE, BoundDataset, ModelSpec, build_network, check_indices
from prune4rel.learners.callbacks import Callback
from prune4rel.learners.checkpoint import StateParts, check_format, fit_progress, pack_state, restore_state
from prune4rel.learners.inference import embed_and_logits, predict_batches
from prune4rel.learners.loop import Batch, TrainingLoop, run_epochs, train_epoch
from prune4rel.learners.optim import Optimizers, lr_factor, make_sgd
from prune4rel.learners.params import LEARNER_RULES
from prune4rel.learners.runtime import cpu_threads, state_device
from prune4rel.learners.state import STATE_DTYPES, StateField, StateStorage
from prune4rel.validation import Integer, Parameterized, Rule

__all__ = ["Learner"]

_EPOCHS = Integer(1)


class Learner(Parameterized, ABC):
    """Base class of the training methods (CE, ELR, SOP, SOP+, DivideMix).

    Parameters
    ----------
    model : str, nn.Module or callable, default "auto"
        A :func:`~prune4rel.models.build_model` name, a module following the
        :class:`~prune4rel.models.EmbeddingModel` contract, or ``f(dataset) -> module``.
        ``"auto"``: see :func:`~prune4rel.learners.binding.build_network`. Kept as
        :attr:`model_spec` (:attr:`model` is the network), not among :meth:`get_params`.
    batch_size : int
    lr : float
        Peak learning rate of the network's SGD.
    momentum, weight_decay : float
    nesterov : bool
        Nesterov momentum (only where ``momentum > 0``).
    schedule : {"cosine", "triangle", "constant"}
    min_lr_ratio, warmup_fraction : float
        The per-step learning-rate schedule over each ``fit`` call
        (:func:`~prune4rel.learners.optim.lr_factor`).
    label_smoothing : float
        For the cross-entropy terms of CE, ELR and DivideMix's warm-up.
    augment : "auto", None or Augment
        Views of each batch; "auto" uses :func:`~prune4rel.data.default_augment`, None
        disables augmentation.
    amp : bool
        bf16 autocast of the forward passes, on CUDA and on CPU; losses stay float32.
    tta : bool
        Average the logits of each image and its horizontal flip in :meth:`predict`.
    channels_last : bool
        Images and networks in NHWC memory order (faster convolutions on GPU tensor cores).
    device : str or torch.device
        "cpu", "auto", "cuda" or "cuda:N", resolved when set ("auto"/"cuda" become ``cuda:N``).
    seed : int
        Seeds the model's initialisation, the shuffling and the augmentations: on CPU the
        same seed gives bit-identical results.
    eval_batch_size : int
    model_kwargs : dict, optional
        Extra arguments for :func:`~prune4rel.models.build_model`.
    num_threads : int, optional
        CPU threads torch may use inside :meth:`fit` and :meth:`predict` (restored after;
        small models on a busy machine train fastest with 1); None leaves torch's setting.
    state_dtype : {"float32", "float16", "bfloat16"}
        Storage dtype of the floating per-example state (see :mod:`~prune4rel.learners.state`;
        each learner documents its bytes per example).
    state_device : {None, "auto", "cpu"}
        Where the per-example state lives: None / "auto" = ``device``; "cpu" keeps it in
        host memory when training on a GPU (only each batch's rows travel to the GPU).

    Raises
    ------
    ParameterError
        (a ValueError) naming the parameter, for a value out of its range. ``model_kwargs``,
        ``device`` and the ``state_*`` settings apply from the first ``fit`` after :meth:`reset`.
    """

    name: ClassVar[str] = "learner"
    param_rules: ClassVar[dict[str, Rule]] = LEARNER_RULES
    #: the per-example tensors this learner keeps (allocated at the first bind, saved by
    #: :meth:`state_dict`, kept identical across ranks by data-parallel training)
    per_example_state: ClassVar[tuple[StateField, ...]] = ()
    #: whether data-parallel training (each rank trains its share of every batch and the
    #: rows of the per-example state are merged from their ranks) trains it correctly
    data_parallel: ClassVar[bool] = False
    #: batching of each epoch; replaced per instance for data-parallel training
    training_loop: TrainingLoop = TrainingLoop()

    device: torch.device  # canonical types where they differ from the arguments'
    model_kwargs: dict[str, Any]
    _storage: StateStorage

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
        channels_last: bool = False,
        device: str | torch.device = "cpu",
        seed: int = 0,
        eval_batch_size: int = 1024,
        model_kwargs: dict[str, Any] | None = None,
        num_threads: int | None = None,
        state_dtype: str = "float32",
        state_device: str | None = None,
    ) -> None:
        self.model_spec: ModelSpec = MODEL_RULE.check("model", model)
        self.batch_size, self.eval_batch_size, self.lr = batch_size, eval_batch_size, lr
        self.momentum, self.weight_decay, self.nesterov = momentum, weight_decay, nesterov
        self.schedule, self.min_lr_ratio, self.warmup_fraction = schedule, min_lr_ratio, warmup_fraction
        self.label_smoothing, self.augment, self.amp, self.tta = label_smoothing, augment, amp, tta
        self.seed, self.num_threads, self.channels_last = seed, num_threads, channels_last
        self.state_dtype, self.state_device = state_dtype, state_device
        vars(self).update(device=device, model_kwargs=model_kwargs)
        self._validate_params()
        self.reset()

    @property
    def uses_strong_view(self) -> bool:
        """Whether :meth:`_train_step` needs ``Batch.x_strong``."""
        return False

    # ------------------------------------------------------------------ lifecycle
    def reset(self) -> None:
        """Forget the model, the per-example state and the history."""
        self.model: nn.Module | None = None
        self.history: list[dict[str, Any]] = []
        self._gen = torch.Generator().manual_seed(self.seed)
        self._data: BoundDataset | None = None
        self._epochs_done = 0
        self._optimizers: Optimizers = []
        self._fit_progress: dict[str, Any] = {}
        self._pending_state: dict[str, Any] | None = None

    @property
    def generator(self) -> torch.Generator:
        """The stream of the shuffles and augmentations (seeded with ``seed`` by :meth:`reset`)."""
        return self._gen

    @property
    def num_examples(self) -> int | None:
        """Examples of the bound dataset (its per-example state's rows); None before ``fit``."""
        return None if self._data is None else self._data.n

    @property
    def epochs_done(self) -> int:
        """Epochs trained over the learner's life (across ``fit`` calls)."""
        return self._epochs_done

    @property
    def optimizers(self) -> list[torch.optim.Optimizer]:
        """The optimizers of the current (or last) ``fit`` call."""
        return [opt for opt, _ in self._optimizers]

    def networks(self) -> dict[str, nn.Module]:
        """The trained networks by attribute name (checkpoints save them)."""
        self._require_fitted()
        assert self.model is not None
        return {"model": self.model}

    def per_example_tensors(self) -> dict[str, torch.Tensor]:
        """The declared per-example state (:attr:`per_example_state`) by attribute name."""
        self._require_fitted()
        return {field.name: getattr(self, field.name) for field in self.per_example_state}

    def _bind(self, dataset: NoisyDataset, indices: np.ndarray) -> None:
        """Attach to ``dataset``: build the model and state on first use; upload the inputs
        and labels of a dataset object not bound before."""
        if self._data is not None:
            self._data.attach(dataset)
            return
        self._data = BoundDataset(dataset, self.device, self.augment, self.channels_last and dataset.is_image)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.model = self._build_model(dataset)
        self._storage = StateStorage(
            STATE_DTYPES[self.state_dtype], state_device(self.state_device, self.device), self.device
        )
        for field in self.per_example_state:
            setattr(self, field.name, self._storage.allocate(field, dataset.n, dataset.num_classes))
        self._init_state(dataset.n, dataset.num_classes)
        self._init_from_data(indices)

    def _build_model(self, dataset: NoisyDataset) -> nn.Module:
        """Create the network (called once, under the learner's seed)."""
        network: Any = build_network(self.model_spec, dataset, self.model_kwargs).to(self.device)
        if self.channels_last and dataset.is_image:  # torch's stubs omit memory_format for Module.to
            network = network.to(memory_format=torch.channels_last)
        return network

    def _init_from_data(self, indices: np.ndarray) -> None:
        """Let each network initialise from data (airbench's whitening) once, before training,
        on the same sample of at most 5,000 of ``indices``."""
        inits = [init for net in self.networks().values() if (init := getattr(net, "init_from_data", None))]
        if inits:
            rng = np.random.default_rng(self.seed)
            sample = rng.choice(indices, size=min(len(indices), 5000), replace=False)
            x = self._inputs(torch.as_tensor(np.sort(sample), device=self.device))
            for init in inits:
                init(x)

    def _init_state(self, n: int, num_classes: int) -> None:
        """Fill the per-example state just allocated for ``n`` examples (default: keep the
        declared ``fill``)."""

    # ------------------------------------------------------------------ training
    def _inputs(self, idx: torch.Tensor) -> torch.Tensor:
        """Normalised, un-augmented inputs of dataset rows ``idx``, on the device."""
        assert self._data is not None
        return self._data.inputs(idx)

    def _batch_inputs(self, batches: Sequence[torch.Tensor]) -> Generator[torch.Tensor, None, None]:
        """:meth:`_inputs` of each of ``batches`` in order (read ahead where that pays)."""
        assert self._data is not None
        return self._data.batch_inputs(batches)

    def _make_batch(self, idx: torch.Tensor, x: torch.Tensor | None = None) -> Batch:
        """The batch of rows ``idx``; ``x`` their :meth:`_inputs` when already gathered."""
        assert self._data is not None
        x = self._data.inputs(idx) if x is None else x
        weak = self._data.views.weak(x, self._gen)
        strong = self._data.views.strong(x, self._gen) if self.uses_strong_view else None
        return Batch(idx=idx, x=weak, y=self._data.labels[idx], x_strong=strong)

    def _make_optimizers(self) -> Optimizers:
        """Optimizers and whether each follows the learning-rate schedule."""
        assert self.model is not None
        return [(make_sgd(self.model.parameters(), self.lr, self.momentum, self.weight_decay, self.nesterov),
                 True)]

    def _lr_factor(self, step: float, total: int) -> float:
        """The schedule's multiplier of ``lr`` at ``step`` of ``total``."""
        return lr_factor(self.schedule, step, total, self.warmup_fraction, self.min_lr_ratio)

    @abstractmethod
    def _train_step(self, batch: Batch, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss of one batch.

        Returns
        -------
        loss : Tensor, scalar
            To be minimised (the loop runs backward and the optimizer steps).
        logits : Tensor, shape (B, C)
            Training-mode logits of the weak view ``batch.x`` (for logging and recorders).
        """

    def _train_epoch(
        self, epoch: int, idx: torch.Tensor, optimizers: Optimizers, step0: int, total_steps: int,
        callbacks: Sequence[Callback],
    ) -> dict[str, Any]:
        """One pass over ``idx`` in a seeded random order; returns the epoch's log."""
        return train_epoch(self, epoch, idx, optimizers, step0, total_steps, callbacks)

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
        optimizers and a fresh learning-rate schedule. A dataset object not seen before
        (of the same size, classes and input shape) replaces the bound inputs and labels.

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
            For a non-dataset, a dataset of another size, classes or input shape than the
            bound one, indices out of range / repeated / empty, or ``epochs < 1``.
        """
        epochs = _EPOCHS.check("epochs", epochs)
        if not isinstance(dataset, NoisyDataset):
            raise ValueError(f"`dataset` must be a prune4rel NoisyDataset, got {type(dataset).__name__}")
        idx_np = check_indices(indices, dataset.n)
        with cpu_threads(self.num_threads):
            return self._fit(dataset, idx_np, epochs, progress, callbacks)

    def _fit(
        self, dataset: NoisyDataset, idx_np: np.ndarray, epochs: int, progress: bool,
        callbacks: Sequence[Callback],
    ) -> list[dict[str, Any]]:
        self._bind(dataset, idx_np)
        optimizers = self._make_optimizers()
        self._optimizers = optimizers
        first = 0
        if self._pending_state is not None:
            pending, self._pending_state = self._pending_state, None
            restored = restore_state(pending, self._checkpoint_parts(), indices=idx_np, epochs=epochs)
            first, self._epochs_done, self.history = restored.epoch, restored.epochs_done, restored.history
        self._fit_progress = fit_progress(first, epochs, idx_np)
        return run_epochs(self, dataset, idx_np, optimizers, first, epochs, progress, callbacks)

    def _record_epoch(self, log: dict[str, Any], idx_np: np.ndarray) -> None:
        """Complete an epoch's ``log`` (re-labeling accuracy) and count the epoch."""
        if self._data is not None and self._data.clean is not None:
            log["relabel_acc"] = self.relabel_accuracy(idx_np)
        self._epochs_done += 1
        self._fit_progress["epoch"] += 1
        self.history.append(log)

    # ------------------------------------------------------------------ inference
    def _require_fitted(self) -> None:
        if self.model is None:
            raise ValueError(f"{type(self).__name__} is not fitted yet: call fit(dataset, ...) first")

    def _forward_eval(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eval-mode ``(embeddings, logits)`` of a normalised batch (TTA on logits)."""
        return embed_and_logits(self.model, x, self.tta)

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
        assert self.model is not None and self._data is not None
        x_np = inputs.x if isinstance(inputs, NoisyDataset) else np.asarray(inputs)
        self.model.eval()
        batches = closing(self._data.eval_batches(x_np, int(batch_size or self.eval_batch_size)))
        with cpu_threads(self.num_threads), batches as stream:
            return predict_batches(self._forward_eval, stream, self.device, self.amp, self._data.num_classes)

    def evaluate(self, dataset: NoisyDataset) -> float:
        """Accuracy on ``dataset``'s test set (report it with ``dataset.test_set``)."""
        probs, _ = self.predict(dataset.x_test)
        return float(np.mean(probs.argmax(1) == dataset.y_test))

    # ------------------------------------------------------------------ labels
    def given_labels_tensor(self) -> torch.Tensor:
        """The given (noisy) labels of the bound dataset, (N,) int64 on the device."""
        self._require_fitted()
        assert self._data is not None
        return self._data.labels

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
        assert self._data is not None
        clean = self._data.clean
        if clean is None:
            raise ValueError("re-labeling accuracy needs the dataset's `clean_labels`")
        idx = check_indices(indices, self._data.n)
        return float(np.mean(self.corrected_labels()[idx] == clean[idx]))

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training exactly where it stands.

        Meant to be called between epochs (e.g. from a callback's ``on_epoch_end``) and
        saved with :func:`torch.save`; ``torch.load(path, weights_only=True)`` reads it back.
        The networks (:meth:`networks`), the declared per-example state, the optimizers,
        the RNG states, the history and the progress of the current ``fit`` call; see
        :func:`~prune4rel.learners.checkpoint.pack_state` for the entries. Values are
        references to live tensors, as in :meth:`torch.nn.Module.state_dict`: save or copy
        them before training on.
        """
        self._require_fitted()
        return pack_state(self._checkpoint_parts(), learner=type(self).__name__,
                          epochs_done=self._epochs_done, history=self.history, fit=self._fit_progress)

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
            When ``state`` is not a learner state of this class and format version
            (immediately), or, as :class:`~prune4rel.learners.LearnerStateError`, when it
            does not fit the next ``fit`` (then: other indices or epochs, or tensors of
            other shapes or dtypes, e.g. another ``state_dtype``).
        """
        check_format(state, type(self).__name__)
        self._pending_state = state

    def _checkpoint_parts(self) -> StateParts:
        """What a checkpoint saves and restores in place."""
        return StateParts(self.networks(), self.per_example_tensors(), self._optimizers, self._gen,
                          self._numpy_rngs(), self.device)

    def _numpy_rngs(self) -> dict[str, np.random.Generator]:
        """numpy random streams the learner draws from, by attribute name (default none)."""
        return {}

    def __repr__(self) -> str:
        spec = self.model_spec if isinstance(self.model_spec, str) else type(self.model_spec).__name__
        cls = type(self).__name__
        return f"{cls}(model={spec!r}, lr={self.lr}, seed={self.seed}, device='{self.device}')"

