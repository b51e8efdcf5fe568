"""Training callbacks, including the per-epoch, per-example recorder used by warm-up."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from prune4rel.data import NoisyDataset
    from prune4rel.learners.base import Learner

__all__ = ["Callback", "EpochRecorder", "example_statistics"]


@torch.no_grad()
def example_statistics(
    logits: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Loss, correctness and margin of each row against its given label.

    The per-example measures of :class:`EpochRecorder` and
    :class:`~prune4rel.warmup.SignalRecorder` (one definition for both).

    Parameters
    ----------
    logits : Tensor of float, shape (B, C)
    labels : Tensor of int64, shape (B,), on the device of ``logits``
        Given labels in ``[0, C)``.

    Returns
    -------
    loss : Tensor, shape (B,), dtype of ``logits``
        Cross-entropy of the given label.
    correct : Tensor of bool, shape (B,)
        ``argmax(logits) == label``.
    margin : Tensor, shape (B,), dtype of ``logits``
        Logit of the given label minus the largest other logit (AUM's margin; ``+inf``
        when ``C == 1``).
    """
    loss = F.cross_entropy(logits, labels, reduction="none")
    correct = logits.argmax(dim=1) == labels
    given = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.scatter(1, labels[:, None], float("-inf")).amax(dim=1)
    return loss, correct, given - others


class Callback:
    """Hooks called by :meth:`Learner.fit`; override the ones you need.

    ``indices`` are dataset indices. ``logits`` are the training-mode logits of the weak
    (supervised) view of the batch, detached, float32, on the learner's device.
    """

    def on_fit_start(
        self, learner: Learner, dataset: NoisyDataset, indices: np.ndarray, epochs: int
    ) -> None:
        """Before the first epoch of a ``fit`` call."""

    def on_batch_end(
        self, learner: Learner, epoch: int, indices: torch.Tensor, logits: torch.Tensor
    ) -> None:
        """After each optimisation step."""

    def on_epoch_end(self, learner: Learner, epoch: int, logs: dict[str, Any]) -> None:
        """After each epoch, with that epoch's log (loss, accuracies, lr, seconds)."""

    def on_fit_end(self, learner: Learner, history: list[dict[str, Any]]) -> None:
        """After the last epoch of a ``fit`` call."""


class EpochRecorder(Callback):
    """Records, every epoch, each trained example's loss, correctness and margin.

    All three are measured against the *given* label on the training-mode logits of the
    example's (augmented) view at the step it was trained in that epoch, by
    :func:`example_statistics`:

    - loss: cross-entropy of the given label;
    - correct: ``argmax(logits) == given label``;
    - margin: logit of the given label minus the largest other logit (AUM's margin).

    After ``fit``, :attr:`losses`, :attr:`correct` and :attr:`margins` have shape (E, N)
    for E recorded epochs over the whole dataset; examples not trained in an epoch hold NaN
    (losses, margins) and False (correct). :meth:`state_dict` / :meth:`load_state_dict`
    carry the recorded epochs over an interrupted ``fit`` (see
    :meth:`Learner.load_state_dict <prune4rel.learners.Learner.load_state_dict>`): a
    recorder restored from the state saved after epoch ``k`` and passed to the resumed
    ``fit`` ends with the same histories as one that saw every epoch.
    """

    def __init__(self) -> None:
        self._loss: list[np.ndarray] = []
        self._correct: list[np.ndarray] = []
        self._margin: list[np.ndarray] = []
        self._labels: torch.Tensor | None = None
        self._cur: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def on_fit_start(
        self, learner: Learner, dataset: NoisyDataset, indices: np.ndarray, epochs: int
    ) -> None:
        if self._loss and self._loss[0].shape != (dataset.n,):
            raise ValueError(
                f"this recorder holds epochs of {self._loss[0].shape[0]} examples, "
                f"the dataset has {dataset.n}"
            )
        self._labels = learner.given_labels_tensor()
        self._n = dataset.n

    def _ensure(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self._cur is None:
            nan = torch.full((self._n,), float("nan"), device=device)
            self._cur = (nan, torch.zeros(self._n, dtype=torch.bool, device=device), nan.clone())
        return self._cur

    @torch.no_grad()
    def on_batch_end(
        self, learner: Learner, epoch: int, indices: torch.Tensor, logits: torch.Tensor
    ) -> None:
        assert self._labels is not None  # set in on_fit_start (internal invariant)
        loss, correct, margin = self._ensure(logits.device)
        loss[indices], correct[indices], margin[indices] = example_statistics(logits, self._labels[indices])

    def on_epoch_end(self, learner: Learner, epoch: int, logs: dict[str, Any]) -> None:
        if self._cur is None:
            return
        loss, correct, margin = self._cur
        self._loss.append(loss.cpu().numpy().astype(np.float32))
        self._correct.append(correct.cpu().numpy())
        self._margin.append(margin.cpu().numpy().astype(np.float32))
        self._cur = None

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The recorded epochs: ``losses``, ``correct``, ``margins`` as CPU tensors (E, N)
        (``torch.save``-able and readable with ``weights_only=True``)."""
        return {
            "losses": torch.from_numpy(self.losses),
            "correct": torch.from_numpy(self.correct),
            "margins": torch.from_numpy(self.margins),
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Replace the recorded epochs with those of a :meth:`state_dict`.

        Raises
        ------
        ValueError
            When ``state`` lacks an entry or its arrays are not (E, N) float32 / bool /
            float32 of one shape.
        """
        if not isinstance(state, dict):
            raise ValueError(f"`state` must be an EpochRecorder state dict, got {type(state).__name__}")
        arrays = {}
        for key, dtype in (("losses", torch.float32), ("correct", torch.bool), ("margins", torch.float32)):
            value = state.get(key)
            if not isinstance(value, torch.Tensor) or value.ndim != 2 or value.dtype != dtype:
                raise ValueError(f"`state[{key!r}]` must be a 2-D {dtype} tensor, got {value!r}")
            arrays[key] = value.cpu().numpy().copy()
        if len({a.shape for a in arrays.values()}) != 1:
            raise ValueError(f"`state` arrays differ in shape: { {k: a.shape for k, a in arrays.items()} }")
        self._loss, self._correct, self._margin = (list(arrays[k]) for k in ("losses", "correct", "margins"))
        self._cur = None

    @property
    def epochs(self) -> int:
        """Number of recorded epochs ``E``."""
        return len(self._loss)

    @property
    def losses(self) -> np.ndarray:
        """Per-epoch loss, shape (E, N), float32."""
        return np.stack(self._loss) if self._loss else np.zeros((0, 0), np.float32)

    @property
    def correct(self) -> np.ndarray:
        """Per-epoch correctness, shape (E, N), bool."""
        return np.stack(self._correct) if self._correct else np.zeros((0, 0), bool)

    @property
    def margins(self) -> np.ndarray:
        """Per-epoch margin, shape (E, N), float32."""
        return np.stack(self._margin) if self._margin else np.zeros((0, 0), np.float32)
