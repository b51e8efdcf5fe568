"""The :class:`NoisyDataset` container: noisily-labelled training inputs plus a test set."""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prune4rel.data.checks import check_class_names, check_num_classes, infer_num_classes
from prune4rel.metrics import noise_rate

__all__ = ["NoisyDataset", "from_arrays", "is_memory_mapped"]


def is_memory_mapped(arr: np.ndarray) -> bool:
    """Whether ``arr`` is (a view of) a memory-mapped file, e.g. ``np.load(..., mmap_mode="r")``."""
    base: Any = arr
    while base is not None:
        if isinstance(base, (np.memmap, mmap.mmap)):
            return True
        base = getattr(base, "base", None)
    return False


def _check_inputs(name: str, x: Any) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim == 4:
        if arr.dtype != np.uint8:
            raise ValueError(
                f"`{name}` images (N, H, W, C) must be uint8 in [0, 255], got dtype {arr.dtype}"
            )
        return arr
    if arr.ndim == 2:
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"`{name}` features (N, F) must be numeric, got dtype {arr.dtype}")
        arr = arr.astype(np.float32, copy=False)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"`{name}` contains NaN or infinite values")
        return arr
    raise ValueError(
        f"`{name}` must be images (N, H, W, C) uint8 or features (N, F) float, got shape {arr.shape}"
    )


def _check_labels(name: str, y: Any, n: int, num_classes: int) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"`{name}` must hold integer class ids, got dtype {arr.dtype}")
    if arr.shape[0] != n:
        raise ValueError(f"`{name}` has length {arr.shape[0]} but there are {n} inputs")
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        bad = int(arr.min()) if arr.min() < 0 else int(arr.max())
        raise ValueError(f"`{name}` holds class id {bad}, outside [0, num_classes={num_classes})")
    return arr.astype(np.int64)


@dataclass(eq=False)
class NoisyDataset:
    """A training set with noisy labels and a clean-labelled test set.

    Parameters
    ----------
    x : ndarray, shape (N, H, W, C) uint8 or (N, F) float32
        Training inputs: images (channels last, values 0..255) or feature vectors. Images
        may be memory-mapped (``np.load(path, mmap_mode="r")``, or
        ``FileImageDataset.materialize(cache=...)``): learners then read each batch from the
        file instead of copying the set to the device.
    noisy_labels : ndarray of int, shape (N,)
        Given (possibly wrong) training labels in ``[0, num_classes)``.
    x_test : ndarray, same layout as ``x`` with M rows
        Test inputs.
    y_test : ndarray of int, shape (M,)
        Clean test labels.
    num_classes : int
        Number of classes ``C``.
    clean_labels : ndarray of int, shape (N,), optional
        True training labels when known (for evaluation: noise rate, re-labeling accuracy).
    test_set : str
        Name of the test set that every reported accuracy must quote (e.g.
        ``"cifar10-exact1k"``).
    name : str
        Short dataset name.
    class_names : tuple of str, optional
    meta : dict
        Free-form provenance (noise model, seed, realised rate, ...).

    Raises
    ------
    ValueError
        On mismatched lengths, labels out of range, train/test layouts that differ, or
        inputs that are neither uint8 images nor float features.
    """

    x: np.ndarray
    noisy_labels: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    clean_labels: np.ndarray | None = None
    test_set: str = "test"
    name: str = "dataset"
    class_names: tuple[str, ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.num_classes = check_num_classes(self.num_classes)
        self.x = _check_inputs("x", self.x)
        self.x_test = _check_inputs("x_test", self.x_test)
        if self.x.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(
                f"`x` rows have shape {self.x.shape[1:]} but `x_test` rows have shape "
                f"{self.x_test.shape[1:]}: train and test inputs must share a layout"
            )
        if self.x.shape[0] == 0:
            raise ValueError("`x` is empty: a dataset needs at least one training example")
        n, c = self.x.shape[0], self.num_classes
        self.noisy_labels = _check_labels("noisy_labels", self.noisy_labels, n, c)
        self.y_test = _check_labels("y_test", self.y_test, self.x_test.shape[0], c)
        if self.clean_labels is not None:
            self.clean_labels = _check_labels("clean_labels", self.clean_labels, n, c)
        self.class_names = check_class_names(self.class_names, c)
        if not isinstance(self.test_set, str) or not self.test_set:
            raise ValueError(f"`test_set` must be a non-empty name, got {self.test_set!r}")

    # ------------------------------------------------------------------ properties
    @property
    def n(self) -> int:
        """Number of training examples ``N``."""
        return int(self.x.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test examples ``M``."""
        return int(self.x_test.shape[0])

    @property
    def is_image(self) -> bool:
        """True for (N, H, W, C) uint8 images, False for (N, F) features."""
        return self.x.ndim == 4

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input as a model sees it: (C, H, W) for images, (F,) for features."""
        if self.is_image:
            h, w, ch = self.x.shape[1:]
            return (int(ch), int(h), int(w))
        return (int(self.x.shape[1]),)

    @property
    def in_channels(self) -> int:
        """Image channels (1 for feature vectors)."""
        return self.input_shape[0] if self.is_image else 1

    def noise_rate(self, indices: np.ndarray | None = None) -> float | None:
        """Share of wrong given labels (over ``indices`` if given), by
        :func:`prune4rel.metrics.noise_rate`; None without clean labels or for no indices."""
        return noise_rate(self.noisy_labels, self.clean_labels, indices)

    def normalization(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel (images, on the 0..1 scale) or per-feature mean and std of ``x``.

        Returns
        -------
        mean, std : ndarray of float32, shape (C,) for images or (F,) for features
            ``std`` is floored at 1e-6 so constant channels/features do not divide by zero.
        """
        if self.is_image and is_memory_mapped(self.x):
            # whole images, evenly spaced: a pixel stride would touch every page of the file
            rows = self.x[:: max(1, self.n // 2048)]
            sample = rows.reshape(-1, self.x.shape[-1]).astype(np.float64) / 255.0
        elif self.is_image:
            flat = self.x.reshape(-1, self.x.shape[-1])
            step = max(1, flat.shape[0] // 2_000_000)  # a strided sample is plenty
            sample = flat[::step].astype(np.float64) / 255.0
        else:
            sample = self.x.astype(np.float64)
        mean = sample.mean(axis=0)
        std = np.maximum(sample.std(axis=0), 1e-6)
        return mean.astype(np.float32), std.astype(np.float32)

    def with_labels(self, noisy_labels: np.ndarray, **meta: Any) -> NoisyDataset:
        """A copy sharing the inputs but with other given labels (and ``meta`` merged in)."""
        return NoisyDataset(
            x=self.x,
            noisy_labels=noisy_labels,
            x_test=self.x_test,
            y_test=self.y_test,
            num_classes=self.num_classes,
            clean_labels=self.clean_labels,
            test_set=self.test_set,
            name=self.name,
            class_names=self.class_names,
            meta={**self.meta, **meta},
        )

    def __repr__(self) -> str:
        rate = self.noise_rate()
        noise = f", noise={rate:.1%}" if rate is not None else ""
        return (
            f"NoisyDataset({self.name!r}, n={self.n}, input={self.input_shape}, "
            f"classes={self.num_classes}{noise}, test={self.test_set!r} ({self.n_test}))"
        )


def from_arrays(
    x: np.ndarray,
    noisy_labels: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    clean_labels: np.ndarray | None = None,
    *,
    num_classes: int | None = None,
    test_set: str = "user-test",
    name: str = "arrays",
) -> NoisyDataset:
    """Wrap user arrays as a :class:`NoisyDataset`.

    Parameters
    ----------
    x : ndarray, shape (N, H, W, C) uint8 or (N, F) float
    noisy_labels : ndarray of int, shape (N,)
    x_test : ndarray, shape (M, ...) like ``x``
    y_test : ndarray of int, shape (M,)
    clean_labels : ndarray of int, shape (N,), optional
    num_classes : int, optional
        Defaults to ``1 + max`` over all given labels.
    test_set, name : str
        Names quoted in reports.

    Returns
    -------
    NoisyDataset

    Raises
    ------
    ValueError
        See :class:`NoisyDataset`.
    """
    if num_classes is None:
        num_classes = infer_num_classes(noisy_labels, y_test, clean_labels)
    return NoisyDataset(
        x=x,
        noisy_labels=noisy_labels,
        x_test=x_test,
        y_test=y_test,
        num_classes=num_classes,
        clean_labels=clean_labels,
        test_set=test_set,
        name=name,
    )
