"""What a learner is bound to: the training set's inputs, labels and views on the device,
the network built for it, and the checked indices of a ``fit`` call."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from prune4rel.data import Augment, InputPipeline, NoisyDataset, default_augment
from prune4rel.models import build_model
from prune4rel.validation import Satisfies

__all__ = ["MODEL_RULE", "BoundDataset", "ModelSpec", "build_network", "check_indices"]

#: A model given as a registry name, a ready module, or a factory ``f(dataset) -> module``.
ModelSpec = str | nn.Module | Callable[[NoisyDataset], nn.Module]
#: What a learner's ``model`` argument allows.
MODEL_RULE = Satisfies(
    lambda v: isinstance(v, (str, nn.Module)) or callable(v),
    "a model name, an nn.Module or a factory f(dataset) -> module",
)


class BoundDataset:
    """The training set of a learner: its sizes, its inputs staged for the device, its labels
    and the views (augmentations) of its batches.

    The sizes, the normalisation and the views come from the first dataset bound;
    :meth:`attach` replaces the inputs and labels with those of another dataset object of
    the same sizes (a dataset object is recognised by ``id``).

    Parameters
    ----------
    dataset : NoisyDataset
    device : torch.device
        Where batches are gathered to.
    augment : "auto", None or Augment
        The learner's ``augment``: "auto" is :func:`~prune4rel.data.default_augment` for the
        input shape, None the identity.
    """

    def __init__(
        self, dataset: NoisyDataset, device: torch.device, augment: str | Augment | None,
        channels_last: bool = False,
    ) -> None:
        self.n, self.num_classes = dataset.n, dataset.num_classes
        self.input_shape = dataset.input_shape
        mean, std = dataset.normalization()
        self.pipeline = InputPipeline(mean, std, dataset.is_image, device, channels_last)
        if augment == "auto":
            self.views = default_augment(dataset.input_shape)
        else:
            self.views = augment if isinstance(augment, Augment) else Augment()
        self._bound_to: int | None = None
        self.attach(dataset)

    def attach(self, dataset: NoisyDataset) -> None:
        """Use ``dataset``'s inputs and labels (uploaded again only for a new object).

        Raises
        ------
        ValueError
            For a dataset of another size, number of classes or input shape.
        """
        sizes = (dataset.n, dataset.num_classes, dataset.input_shape)
        if sizes != (self.n, self.num_classes, self.input_shape):
            raise ValueError(
                f"this learner holds state for a dataset with n={self.n}, "
                f"classes={self.num_classes}, input={self.input_shape}; got {dataset!r}. "
                "Use a new learner (or call reset()) for another dataset"
            )
        if self._bound_to == id(dataset):
            return
        self.raw = self.pipeline.stage(dataset.x)
        self.labels = torch.as_tensor(dataset.noisy_labels, device=self.pipeline.device)
        self.clean: np.ndarray | None = None if dataset.clean_labels is None else dataset.clean_labels.copy()
        self._bound_to = id(dataset)

    def inputs(self, idx: torch.Tensor) -> torch.Tensor:
        """Normalised inputs of dataset rows ``idx`` (B,), on the device."""
        return self.pipeline.gather(self.raw, idx)

    def batch_inputs(self, batches: Sequence[torch.Tensor]) -> Generator[torch.Tensor, None, None]:
        """:meth:`inputs` of each of ``batches`` in order (a memory-mapped set on a GPU is
        read ahead; see :meth:`~prune4rel.data.InputPipeline.gathered`). Close the iterator
        when stopping before its end."""
        return self.pipeline.gathered(self.raw, batches)

    def eval_batches(self, x: np.ndarray, batch_size: int) -> Generator[torch.Tensor, None, None]:
        """Normalised batches of raw inputs ``x`` (N, ...) in the training layout, on the device.

        Raises
        ------
        ValueError
            When the rows of ``x`` are not shaped like the training inputs.
        """
        if tuple(x.shape[1:]) != tuple(self.raw.shape[1:]):
            raise ValueError(
                f"`inputs` rows have shape {tuple(x.shape[1:])}, the learner was trained on "
                f"{tuple(self.raw.shape[1:])}"
            )
        return self.pipeline.uploaded(x, batch_size)


def build_network(spec: ModelSpec, dataset: NoisyDataset, model_kwargs: dict[str, Any]) -> nn.Module:
    """The network ``spec`` means for ``dataset`` (on the CPU; built under the caller's seed).

    ``"auto"`` is "mlp" for features, "small_cnn" for images smaller than 32 pixels and
    "airbench" otherwise; a module is used as it is; a callable is called with ``dataset``.

    Raises
    ------
    ValueError
        When the network lacks ``embed(x)`` or ``forward(x)``.
    """
    if isinstance(spec, nn.Module):
        model = spec
    elif callable(spec) and not isinstance(spec, str):
        model = spec(dataset)
    else:
        name = str(spec)
        if name == "auto":
            if not dataset.is_image:
                name = "mlp"
            else:
                name = "small_cnn" if min(dataset.input_shape[1:]) < 32 else "airbench"
        model = build_model(
            name, dataset.num_classes, dataset.in_channels, input_shape=dataset.input_shape, **model_kwargs,
        )
    for attr in ("embed", "forward"):
        if not callable(getattr(model, attr, None)):
            raise ValueError(f"the model must define `{attr}(x)` (see prune4rel.models.EmbeddingModel)")
    return model


def check_indices(indices: Any, n: int) -> np.ndarray:
    """``indices`` as distinct int64 dataset indices in ``[0, n)``; all of them when None.

    Raises
    ------
    ValueError
        Naming ``indices``, for an empty, non-integer, out-of-range or repeating array.
    """
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
