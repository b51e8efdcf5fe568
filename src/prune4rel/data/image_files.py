""":class:`FileImageDataset`: an index of image files with noisy labels, decoded on demand.

The learners read training images as one uint8 array (:attr:`NoisyDataset.x`). For sets
that do not fit in memory (WebVision: 66k images in the first 50 classes of the Google
subset; Clothing-1M: 1M; ImageNet: 1.28M) loading has two steps:

1. a loader reads only the annotation files / folder listing and returns a
   :class:`FileImageDataset`: paths and labels, a few bytes per example, no pixels
   (:mod:`prune4rel.data.listings` for CSV lists, :mod:`prune4rel.data.layouts` for the
   web-scale sets);
2. :meth:`FileImageDataset.materialize` decodes all of them or a bounded part (the first
   ``max_train``, or chosen ``indices``, e.g. :meth:`FileImageDataset.balanced_indices`),
   resized to ``image_size``, into a :class:`NoisyDataset`: in RAM, or with ``cache=`` into
   a resumable on-disk ``.npy`` that is memory-mapped, so that the warm-up, selection and
   training stream batches from disk instead of holding the set in memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from prune4rel.data.checks import check_class_names, check_limit, check_num_classes
from prune4rel.data.dataset import NoisyDataset
from prune4rel.data.decode import (
    GIB,
    ImageSize,
    check_image_size,
    decode_images_to_npy,
    decode_many,
)
from prune4rel.metrics import noise_rate

__all__ = ["FileImageDataset"]


def _check_paths(name: str, paths: Any) -> np.ndarray:
    arr = np.asarray(paths, dtype=str) if len(paths) else np.zeros(0, dtype="<U1")
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be a 1-D sequence of paths, got shape {arr.shape}")
    return arr


@dataclass(eq=False)
class FileImageDataset:
    """An index of image files with noisy labels: paths and labels, no pixels.

    The large-scale counterpart of :class:`NoisyDataset` (see the module docstring): cheap
    to build for millions of files, and turned into a trainable :class:`NoisyDataset` of a
    bounded size with :meth:`materialize`.

    Parameters
    ----------
    root : path
        Folder that relative paths are resolved against.
    paths : sequence of str, length N
        Training image paths (relative to ``root`` or absolute).
    noisy_labels : ndarray of int, shape (N,)
        Given labels in ``[0, num_classes)``.
    test_paths : sequence of str, length M
    y_test : ndarray of int, shape (M,)
        Clean test labels.
    num_classes : int
    clean_labels : ndarray of int, shape (N,), optional
        True labels where known, ``-1`` where unknown (Clothing-1M verifies only a few
        percent of its training set).
    test_set, name : str
        Names quoted in reports, as in :class:`NoisyDataset`.
    class_names : tuple of str, optional
    meta : dict
        Free-form provenance (JSON-friendly scalars).

    Raises
    ------
    ValueError
        On mismatched lengths or labels out of range.
    """

    root: Path
    paths: np.ndarray
    noisy_labels: np.ndarray
    test_paths: np.ndarray
    y_test: np.ndarray
    num_classes: int
    clean_labels: np.ndarray | None = None
    test_set: str = "test"
    name: str = "files"
    class_names: tuple[str, ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.num_classes = check_num_classes(self.num_classes)
        self.paths = _check_paths("paths", self.paths)
        self.test_paths = _check_paths("test_paths", self.test_paths)
        c = self.num_classes
        self.noisy_labels = self._labels("noisy_labels", self.noisy_labels, len(self.paths), 0, c)
        self.y_test = self._labels("y_test", self.y_test, len(self.test_paths), 0, c)
        if self.clean_labels is not None:
            self.clean_labels = self._labels("clean_labels", self.clean_labels, len(self.paths), -1, c)
        self.class_names = check_class_names(self.class_names, c)

    @staticmethod
    def _labels(name: str, y: Any, n: int, low: int, c: int) -> np.ndarray:
        arr = np.asarray(y)
        if arr.ndim != 1 or arr.shape[0] != n:
            raise ValueError(f"`{name}` must have shape ({n},), got {arr.shape}")
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"`{name}` must hold integer class ids, got dtype {arr.dtype}")
        arr = arr.astype(np.int64)
        if arr.size and (arr.min() < low or arr.max() >= c):
            bad = int(arr.min()) if arr.min() < low else int(arr.max())
            raise ValueError(f"`{name}` holds class id {bad}, outside [{low}, num_classes={c})")
        return arr

    # ------------------------------------------------------------------ basics
    @property
    def n(self) -> int:
        """Number of training images ``N``."""
        return len(self.paths)

    @property
    def n_test(self) -> int:
        """Number of test images ``M``."""
        return len(self.test_paths)

    def path(self, i: int, test: bool = False) -> Path:
        """Full path of training (or test) image ``i``."""
        p = Path(str((self.test_paths if test else self.paths)[i]))
        return p if p.is_absolute() else self.root / p

    def known_clean_indices(self) -> np.ndarray:
        """Indices (int64, ascending) of training images whose clean label is known."""
        if self.clean_labels is None:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.clean_labels >= 0).astype(np.int64)

    def noise_rate(self, indices: np.ndarray | None = None) -> float | None:
        """Share of wrong given labels among (``indices``' rows with) known clean labels
        (see :func:`prune4rel.metrics.noise_rate`)."""
        return noise_rate(self.noisy_labels, self.clean_labels, indices)

    def missing_files(self, test: bool = False, limit: int | None = None) -> list[Path]:
        """Paths that do not exist as files (one ``stat`` per image; checks the first
        ``limit`` images if given)."""
        n = self.n_test if test else self.n
        stop = n if limit is None else min(n, int(limit))
        return [p for p in (self.path(i, test) for i in range(stop)) if not p.is_file()]

    def check_files(self) -> None:
        """Raise a ValueError naming missing training/test image files, if any."""
        for test in (False, True):
            missing = self.missing_files(test=test)
            if missing:
                kind = "test" if test else "training"
                shown = ", ".join(str(p) for p in missing[:3])
                raise ValueError(
                    f"{len(missing)} {kind} image file(s) of {self.name!r} are missing, e.g. {shown}"
                )

    def with_labels(self, noisy_labels: np.ndarray, **meta: Any) -> FileImageDataset:
        """A copy with other given labels (e.g. synthetic noise on ImageNet) and ``meta``
        merged in."""
        return replace(self, noisy_labels=noisy_labels, meta={**self.meta, **meta})

    def subset(
        self, indices: np.ndarray | None = None, test_indices: np.ndarray | None = None
    ) -> FileImageDataset:
        """The index restricted to ``indices`` (training) and ``test_indices`` (test rows)."""
        idx = np.arange(self.n) if indices is None else _as_indices("indices", indices, self.n)
        tdx = np.arange(self.n_test) if test_indices is None else _as_indices(
            "test_indices", test_indices, self.n_test
        )
        return replace(
            self,
            paths=self.paths[idx],
            noisy_labels=self.noisy_labels[idx],
            clean_labels=None if self.clean_labels is None else self.clean_labels[idx],
            test_paths=self.test_paths[tdx],
            y_test=self.y_test[tdx],
            meta=dict(self.meta),
        )

    def balanced_indices(self, per_class: int, seed: int = 0) -> np.ndarray:
        """Up to ``per_class`` random training indices of each (noisy) class, sorted.

        The usual way to draw a trainable subset of Clothing-1M or WebVision (DivideMix
        samples class-balanced subsets of Clothing-1M the same way).

        Returns
        -------
        ndarray of int64, shape (K,), K <= per_class * num_classes
        """
        if isinstance(per_class, bool) or int(per_class) != per_class or per_class < 1:
            raise ValueError(f"`per_class` must be a positive integer, got {per_class!r}")
        rng = np.random.default_rng(seed)
        picks = []
        for c in range(self.num_classes):
            members = np.flatnonzero(self.noisy_labels == c)
            if members.size > per_class:
                members = rng.choice(members, size=int(per_class), replace=False)
            picks.append(members)
        return np.sort(np.concatenate(picks)).astype(np.int64)

    # ------------------------------------------------------------------ decoding
    def load_images(
        self,
        indices: np.ndarray,
        image_size: ImageSize = 64,
        *,
        test: bool = False,
        mode: str = "RGB",
        workers: int | None = None,
        progress: bool = False,
        max_bytes: int | None = 16 * GIB,
    ) -> np.ndarray:
        """Decode training (or test) images ``indices`` into (K, H, W, C) uint8, in order.

        See :func:`decode_image` for ``image_size`` and ``mode``; ``workers`` decoding
        threads (default ``min(8, cpu count)``).
        """
        n = self.n_test if test else self.n
        idx = _as_indices("indices", indices, n)
        if idx.size == 0:
            raise ValueError("`indices` is empty: nothing to decode")
        paths = [self.path(int(i), test) for i in idx]
        return decode_many(
            paths, check_image_size(image_size), mode, _workers(workers), progress,
            f"{self.name} {'test' if test else 'train'}", max_bytes,
        )

    def materialize(
        self,
        max_train: int | None = None,
        max_test: int | None = None,
        image_size: ImageSize = 64,
        *,
        indices: np.ndarray | None = None,
        test_indices: np.ndarray | None = None,
        mode: str = "RGB",
        workers: int | None = None,
        progress: bool = True,
        max_bytes: int | None = 16 * GIB,
        cache: str | Path | None = None,
    ) -> NoisyDataset:
        """Decode a bounded part of the index into an in-memory :class:`NoisyDataset`.

        Parameters
        ----------
        max_train, max_test : int, optional
            Decode only the first rows (of ``indices`` / ``test_indices`` when given).
        image_size : int, (height, width) or None
            Resize target (see :func:`decode_image`); None keeps the files' size, which must
            then be the same for all of them. Memory is ``(K + M) * H * W * C`` bytes.
        indices, test_indices : ndarray of int, optional
            Which training / test rows to decode (default: all, in order).
        mode : {"RGB", "L"}
        workers : int, optional
            Decoding threads (default ``min(8, cpu count)``).
        progress : bool
            Show a tqdm bar.
        max_bytes : int or None
            Refuse (ValueError) to allocate more than this in RAM (default 16 GiB); None = no
            limit. Does not apply with ``cache``.
        cache : path, optional
            Decode into ``.npy`` files in this folder instead of RAM (see
            :func:`~prune4rel.data.decode.decode_images_to_npy`): resumable, reused by later
            calls with the same rows, size and mode, and returned memory-mapped, so that
            the learners stream batches from disk (the page cache) rather than holding the
            set in memory.

        Returns
        -------
        NoisyDataset
            Row ``k`` is training row ``indices[k]`` of this index. Clean labels are passed
            on when every decoded row has one; otherwise ``clean_labels`` is None and
            ``meta["clean_labels_known"]`` counts the rows that have one (select rows with
            :meth:`known_clean_indices` to keep them).
        """
        check_limit("max_train", max_train)
        check_limit("max_test", max_test)
        idx = np.arange(self.n) if indices is None else _as_indices("indices", indices, self.n)
        tdx = np.arange(self.n_test) if test_indices is None else _as_indices(
            "test_indices", test_indices, self.n_test
        )
        idx, tdx = idx[:max_train], tdx[:max_test]
        if idx.size == 0 or tdx.size == 0:
            raise ValueError(
                f"nothing to decode: {idx.size} training and {tdx.size} test rows selected "
                "(a dataset needs at least one of each)"
            )
        size = check_image_size(image_size)
        nw = _workers(workers)
        train_paths = [self.path(int(i)) for i in idx]
        test_paths = [self.path(int(i), True) for i in tdx]
        if cache is not None:
            x, x_test = (
                decode_images_to_npy(
                    p, cache, size, mode, prefix=part, workers=nw, progress=progress,
                    desc=f"{self.name} {part}",
                )
                for p, part in ((train_paths, "train"), (test_paths, "test"))
            )
        else:
            x = decode_many(
                train_paths, size, mode, nw, progress, f"{self.name} train", max_bytes, extra_rows=tdx.size
            )
            x_test = decode_many(
                test_paths, size, mode, nw, progress, f"{self.name} test",
                None if max_bytes is None else max_bytes - x.nbytes,
            )
        if x_test.shape[1:] != x.shape[1:]:
            raise ValueError(
                f"training images have shape {x.shape[1:]} but test images {x_test.shape[1:]}: "
                "pass `image_size` to resize both to one shape"
            )
        clean = None if self.clean_labels is None else self.clean_labels[idx]
        known = -1 if clean is None else int(np.sum(clean >= 0))
        meta = {
            **self.meta,
            "materialized_train": int(idx.size),
            "materialized_test": int(tdx.size),
            "image_size": None if size is None else (size if isinstance(size, int) else list(size)),
            "index_n": self.n,
            "decoded_cache": None if cache is None else str(cache),
        }
        if clean is not None and known < idx.size:
            meta["clean_labels_known"] = known
            clean = None
        subset_note = "" if (idx.size == self.n and tdx.size == self.n_test) else f" ({idx.size} of {self.n})"
        test_note = "" if tdx.size == self.n_test else f" ({tdx.size} of {self.n_test})"
        return NoisyDataset(
            x=x,
            noisy_labels=self.noisy_labels[idx],
            x_test=x_test,
            y_test=self.y_test[tdx],
            num_classes=self.num_classes,
            clean_labels=clean,
            test_set=f"{self.test_set}{test_note}",
            name=f"{self.name}{subset_note}" if subset_note else self.name,
            class_names=self.class_names,
            meta=meta,
        )

    def __repr__(self) -> str:
        rate = self.noise_rate()
        noise = f", noise={rate:.1%}" if rate is not None else ""
        return (
            f"FileImageDataset({self.name!r}, n={self.n}, classes={self.num_classes}{noise}, "
            f"test={self.test_set!r} ({self.n_test}), root={str(self.root)!r})"
        )


def _as_indices(name: str, indices: Any, n: int) -> np.ndarray:
    arr = np.asarray(indices)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"`{name}` must be a 1-D array of integer row indices, got {arr.dtype} {arr.shape}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise ValueError(f"`{name}` holds {int(arr.min() if arr.min() < 0 else arr.max())}, outside [0, {n})")
    return arr


def _workers(workers: int | None) -> int:
    check_limit("workers", workers)
    return max(1, min(8, os.cpu_count() or 1)) if workers is None else int(workers)

