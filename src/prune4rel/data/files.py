"""Image files on disk: a CSV of paths, and the large web-scale noisy sets by their layouts.

The learners read training images as one uint8 array (:attr:`NoisyDataset.x`). For sets
that do not fit in memory (WebVision: 66k images in the first 50 classes of the Google
subset; Clothing-1M: 1M; ImageNet: 1.28M) loading has two steps:

1. a loader reads only the annotation files / folder listing and returns a
   :class:`FileImageDataset`: paths and labels, a few bytes per example, no pixels;
2. :meth:`FileImageDataset.materialize` decodes all of them or a bounded part (the first
   ``max_train``, or chosen ``indices``, e.g. :meth:`FileImageDataset.balanced_indices`),
   resized to ``image_size``, into a :class:`NoisyDataset`: in RAM, or with ``cache=`` into
   a resumable on-disk ``.npy`` that is memory-mapped, so that the warm-up, selection and
   training stream batches from disk instead of holding the set in memory.

Expected layouts (paths relative to the ``root`` the user names):

WebVision 1.0 (:func:`load_webvision`)::

    info/train_filelist_google.txt   lines "google/q0001/<file>.jpg <label>"
    info/train_filelist_flickr.txt   (only for sources=("google", "flickr"))
    info/val_filelist.txt            lines "<file>.jpg <label>"
    info/synsets.txt                 optional, one "<wnid> <name>" line per class
    google/..., flickr/...           training images
    val_images_256/<file>.jpg        validation images

Clothing-1M (:func:`load_clothing1m`)::

    annotations/noisy_label_kv.txt        lines "images/0/00/<file>.jpg <label>"
    annotations/clean_label_kv.txt        same format, human-verified labels
    annotations/noisy_train_key_list.txt  one key per line (the 1M noisy training set)
    annotations/clean_test_key_list.txt   the 10,526 clean test keys
    annotations/clean_val_key_list.txt    optional (test="clean_val")
    annotations/category_names_eng.txt    optional, 14 class names
    images/0/00/<file>.jpg                images (a key without "images/" is looked up
                                          under images/)

ImageNet-1K (:func:`load_imagenet`)::

    train/<wnid>/*.JPEG    val/<wnid>/*.JPEG    (labels = index of the wnid in sorted order)

Any labelled image list (:func:`load_image_folder`, :func:`index_image_csv`): a CSV with a
header row naming the columns ``path``, ``label`` and optionally ``clean_label``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from prune4rel.data.dataset import NoisyDataset
from prune4rel.data.decode import (
    GIB,
    ImageSize,
    check_image_size,
    decode_image,
    decode_images_to_npy,
    decode_many,
)

__all__ = [
    "CLOTHING1M_CLASSES",
    "IMAGE_EXTENSIONS",
    "FileImageDataset",
    "decode_image",
    "index_image_csv",
    "load_clothing1m",
    "load_image_folder",
    "load_imagenet",
    "load_webvision",
]

#: File endings (lower case) that folder scans treat as images.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm")
#: Clothing-1M's 14 classes in label order.
CLOTHING1M_CLASSES = (
    "T-Shirt", "Shirt", "Knitwear", "Chiffon", "Sweater", "Hoodie", "Windbreaker", "Jacket",
    "Down Coat", "Suit", "Shawl", "Dress", "Vest", "Underwear",
)
# ---------------------------------------------------------------------------- the index type
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
        if isinstance(self.num_classes, bool) or int(self.num_classes) != self.num_classes:
            raise ValueError(f"`num_classes` must be an integer, got {self.num_classes!r}")
        self.num_classes = int(self.num_classes)
        if self.num_classes < 2:
            raise ValueError(f"`num_classes` must be >= 2, got {self.num_classes}")
        self.paths = _check_paths("paths", self.paths)
        self.test_paths = _check_paths("test_paths", self.test_paths)
        c = self.num_classes
        self.noisy_labels = self._labels("noisy_labels", self.noisy_labels, len(self.paths), 0, c)
        self.y_test = self._labels("y_test", self.y_test, len(self.test_paths), 0, c)
        if self.clean_labels is not None:
            self.clean_labels = self._labels("clean_labels", self.clean_labels, len(self.paths), -1, c)
        if self.class_names is not None:
            self.class_names = tuple(str(s) for s in self.class_names)
            if len(self.class_names) != c:
                raise ValueError(f"`class_names` has {len(self.class_names)} names for {c} classes")

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
        """Share of wrong given labels among (``indices``' rows with) known clean labels."""
        if self.clean_labels is None:
            return None
        idx = np.arange(self.n) if indices is None else np.asarray(indices, dtype=np.int64)
        known = idx[self.clean_labels[idx] >= 0]
        if known.size == 0:
            return None
        return float(np.mean(self.noisy_labels[known] != self.clean_labels[known]))

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
        for name, value in (("max_train", max_train), ("max_test", max_test)):
            if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
                raise ValueError(f"`{name}` must be a positive integer or None, got {value!r}")
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
    if workers is None:
        return max(1, min(8, os.cpu_count() or 1))
    if isinstance(workers, bool) or int(workers) != workers or workers < 1:
        raise ValueError(f"`workers` must be a positive integer or None, got {workers!r}")
    return int(workers)


def _check_limit(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
        raise ValueError(f"`{name}` must be a positive integer or None, got {value!r}")


# ---------------------------------------------------------------------------- CSV lists
def _parse_label(value: str | None, column: str, where: str) -> int:
    text = (value or "").strip()
    try:
        label = int(text)
    except ValueError:
        raise ValueError(
            f"{where}: column {column!r} must hold an integer class id, got {text!r}"
        ) from None
    if label < 0:
        raise ValueError(f"{where}: column {column!r} holds a negative class id {label}")
    return label


def _read_csv(csv_path: Path) -> tuple[list[str], list[int], list[int] | None]:
    """Rows of a (path, label[, clean_label]) CSV; clean labels -1 where the cell is empty."""
    if not csv_path.is_file():
        raise ValueError(f"CSV file not found: {csv_path}")
    with csv_path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        if "path" not in header or "label" not in header:
            raise ValueError(
                f"{csv_path}: the header row must name the columns 'path' and 'label' (and "
                f"optionally 'clean_label'), got {header}"
            )
        has_clean = "clean_label" in header
        paths, labels, clean = [], [], []
        for line, row in enumerate(reader, start=2):
            where = f"{csv_path} line {line}"
            p = (row.get("path") or "").strip()
            if not p:
                raise ValueError(f"{where}: empty 'path'")
            paths.append(p)
            labels.append(_parse_label(row.get("label"), "label", where))
            if has_clean:
                cell = (row.get("clean_label") or "").strip()
                clean.append(-1 if cell == "" else _parse_label(cell, "clean_label", where))
    if not paths:
        raise ValueError(f"{csv_path} has a header but no rows")
    return paths, labels, (clean if has_clean else None)


def index_image_csv(
    csv_path: str | Path,
    root: str | Path | None = None,
    test_csv: str | Path | None = None,
    *,
    num_classes: int | None = None,
    test_size: float = 0.2,
    seed: int = 0,
    class_names: Sequence[str] | None = None,
    check_files: bool = True,
    name: str | None = None,
) -> FileImageDataset:
    """Index the images listed in a CSV (no decoding); see :func:`load_image_folder`.

    Returns
    -------
    FileImageDataset
        ``clean_labels`` is -1 where a ``clean_label`` cell is empty, None without the column.
    """
    csv_path = Path(csv_path)
    base = Path(root) if root is not None else csv_path.parent
    paths, labels, clean = _read_csv(csv_path)
    noisy = np.asarray(labels, dtype=np.int64)
    clean_arr = None if clean is None else np.asarray(clean, dtype=np.int64)
    if test_csv is not None:
        t_paths, t_labels, t_clean = _read_csv(Path(test_csv))
        y_test = np.asarray(t_labels, dtype=np.int64)
        if t_clean is not None:
            tc = np.asarray(t_clean, dtype=np.int64)
            y_test = np.where(tc >= 0, tc, y_test)
        test_paths = np.asarray(t_paths, dtype=str)
        train_paths = np.asarray(paths, dtype=str)
        test_set = f"{name or csv_path.stem}-{Path(test_csv).stem}"
        test_labels = "test_csv"
    else:
        if not (isinstance(test_size, float) and 0.0 < test_size < 1.0):
            raise ValueError(f"`test_size` must be a float in (0, 1), got {test_size!r}")
        n_all = len(paths)
        m = max(1, round(test_size * n_all))
        if m >= n_all:
            raise ValueError(f"{csv_path} has {n_all} rows: too few to hold out a test set")
        perm = np.random.default_rng(seed).permutation(n_all)
        te, tr = np.sort(perm[:m]), np.sort(perm[m:])
        all_paths = np.asarray(paths, dtype=str)
        test_paths, train_paths = all_paths[te], all_paths[tr]
        # the held-out labels are clean where known, else the given (noisy) ones
        y_test = noisy[te] if clean_arr is None else np.where(clean_arr[te] >= 0, clean_arr[te], noisy[te])
        exact = clean_arr is not None and bool(np.all(clean_arr[te] >= 0))
        test_labels = "clean" if exact else "noisy (no clean_label for every held-out row)"
        test_set = f"{name or csv_path.stem}-holdout{m}-seed{seed}" + ("" if exact else "-noisylabels")
        noisy = noisy[tr]
        clean_arr = None if clean_arr is None else clean_arr[tr]
    if num_classes is None:
        parts = [noisy, y_test] + ([] if clean_arr is None else [clean_arr])
        num_classes = max(2, int(np.concatenate(parts).max()) + 1)
    ds = FileImageDataset(
        root=base,
        paths=train_paths,
        noisy_labels=noisy,
        test_paths=test_paths,
        y_test=y_test,
        num_classes=num_classes,
        clean_labels=clean_arr,
        test_set=test_set,
        name=name or csv_path.stem,
        class_names=None if class_names is None else tuple(class_names),
        meta={"source": str(csv_path), "test_labels": test_labels},
    )
    if check_files:
        ds.check_files()
    return ds


def load_image_folder(
    csv_path: str | Path,
    root: str | Path | None = None,
    test_csv: str | Path | None = None,
    *,
    image_size: ImageSize = None,
    mode: str = "RGB",
    num_classes: int | None = None,
    test_size: float = 0.2,
    seed: int = 0,
    class_names: Sequence[str] | None = None,
    max_train: int | None = None,
    max_test: int | None = None,
    workers: int | None = None,
    progress: bool = False,
    name: str | None = None,
) -> NoisyDataset:
    """Load a labelled image collection listed in a CSV file into a :class:`NoisyDataset`.

    The CSV has a header row naming its columns: ``path`` (relative to ``root``, or
    absolute), ``label`` (the given, possibly noisy, integer class id) and optionally
    ``clean_label`` (the true class id where known; empty cells mean unknown)::

        path,label,clean_label
        cats/001.jpg,0,0
        dogs/017.png,0,1

    Parameters
    ----------
    csv_path : path
        Training list.
    root : path, optional
        Folder of relative paths (default: the CSV's folder).
    test_csv : path, optional
        Test list in the same format; its ``clean_label`` (or else ``label``) is the test
        label. Without it a seeded random ``test_size`` share of ``csv_path`` is held out
        (its labels are the clean ones where every held-out row has one, else the given ones;
        ``test_set`` then ends in ``-noisylabels``).
    image_size : int, (height, width) or None
        Resize (see :func:`decode_image`); None requires all images to share one size.
    mode : {"RGB", "L"}
        3-channel colour or 1-channel grey.
    num_classes : int, optional
        Default: 1 + the largest label.
    test_size : float
        Held-out share without ``test_csv``, in (0, 1).
    seed : int
        Seed of the hold-out split.
    class_names : sequence of str, optional
    max_train, max_test : int, optional
        Decode only the first rows.
    workers : int, optional
        Decoding threads.
    progress : bool
    name : str, optional
        Dataset name (default: the CSV's stem).

    Returns
    -------
    NoisyDataset
        Images (N, H, W, C) uint8; clean labels when every training row has one.

    Raises
    ------
    ValueError
        For a missing CSV, a header without ``path``/``label``, a non-integer or negative
        label (with its line number), missing or unreadable image files (named), or images of
        different sizes without ``image_size``.
    """
    _check_limit("max_train", max_train)
    _check_limit("max_test", max_test)
    index = index_image_csv(
        csv_path, root, test_csv, num_classes=num_classes, test_size=test_size, seed=seed,
        class_names=class_names, check_files=True, name=name,
    )
    return index.materialize(
        max_train, max_test, image_size, mode=mode, workers=workers, progress=progress, max_bytes=None,
    )


# ---------------------------------------------------------------------------- list-file parsing
def _read_list(
    path: Path, what: str, layout: str, keep: Callable[[int], bool] | None = None
) -> tuple[list[str], list[int]]:
    """Lines "<relative path> <int label>" (whitespace separated) of an annotation file."""
    if not path.is_file():
        raise ValueError(f"{what} file not found: {path}; {layout}")
    paths, labels = [], []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            line = line.strip()
            if not line:
                continue
            key, sep, rest = line.rpartition(" ")
            if not sep:
                key, sep, rest = line.rpartition("\t")
            try:
                label = int(rest)
            except ValueError:
                label = -1
            if not sep or not key.strip() or label < 0:
                raise ValueError(f"{path} line {line_no}: expected '<path> <integer label>', got {line!r}")
            if keep is None or keep(label):
                paths.append(key.strip())
                labels.append(label)
    return paths, labels


def _read_keys(path: Path, what: str, layout: str) -> list[str]:
    if not path.is_file():
        raise ValueError(f"{what} file not found: {path}; {layout}")
    with path.open(encoding="utf-8") as fh:
        return [s for s in (line.strip() for line in fh) if s]


# ---------------------------------------------------------------------------- WebVision
_WEBVISION_LAYOUT = (
    "expected WebVision 1.0 layout: <root>/info/train_filelist_google.txt (lines "
    "'google/<class_dir>/<file>.jpg <label>'), <root>/info/val_filelist.txt (lines '<file>.jpg "
    "<label>'), images under <root>/google/ and <root>/val_images_256/"
)


def load_webvision(
    root: str | Path,
    num_classes: int = 50,
    *,
    sources: Sequence[str] = ("google",),
    max_train: int | None = None,
    max_test: int | None = None,
    check_files: bool = True,
) -> FileImageDataset:
    """Index WebVision 1.0 (Li et al., 2017): web images with their search query as label.

    The standard noisy-label benchmark ("mini WebVision", Jiang et al., 2018; DivideMix,
    SOP, ELR) trains on the first 50 classes of the Google subset (about 66k images, ~20%
    noise) and tests on the 2,500 WebVision validation images of those classes.

    Parameters
    ----------
    root : path
        WebVision folder (layout in the module docstring).
    num_classes : int
        Keep classes ``0 .. num_classes - 1`` (50 for mini WebVision, 1000 for all).
    sources : sequence of {"google", "flickr"}
        Training lists to read (``info/train_filelist_<source>.txt``).
    max_train, max_test : int, optional
        Keep only the first rows (in file order) after class filtering.
    check_files : bool
        Check that every kept image file exists (one ``stat`` each).

    Returns
    -------
    FileImageDataset
        Clean training labels are unknown (``clean_labels`` is None); call
        :meth:`FileImageDataset.materialize` to decode. Class names come from
        ``info/synsets.txt`` when present.

    Raises
    ------
    ValueError
        For a missing list file (with the expected layout), a malformed line, or missing
        images.
    """
    if isinstance(num_classes, bool) or int(num_classes) != num_classes or not 2 <= num_classes <= 1000:
        raise ValueError(f"`num_classes` must be an integer in [2, 1000], got {num_classes!r}")
    _check_limit("max_train", max_train)
    _check_limit("max_test", max_test)
    bad = [s for s in sources if s not in ("google", "flickr")]
    if bad or not sources:
        raise ValueError(f"`sources` must be a non-empty subset of ('google', 'flickr'), got {sources!r}")
    root = Path(root)
    info = root / "info"

    def keep(label: int) -> bool:
        return label < num_classes

    paths: list[str] = []
    labels: list[int] = []
    for src in sources:
        p, y = _read_list(
            info / f"train_filelist_{src}.txt", "WebVision training list", _WEBVISION_LAYOUT, keep
        )
        paths += p
        labels += y
    t_paths, t_labels = _read_list(
        info / "val_filelist.txt", "WebVision validation list", _WEBVISION_LAYOUT, keep
    )
    t_paths = [p if "/" in p else f"val_images_256/{p}" for p in t_paths]
    paths, labels = paths[:max_train], labels[:max_train]
    t_paths, t_labels = t_paths[:max_test], t_labels[:max_test]
    if not paths or not t_paths:
        raise ValueError(
            f"WebVision lists under {info} hold no training or no validation image of the first "
            f"{num_classes} classes; {_WEBVISION_LAYOUT}"
        )
    class_names = None
    synsets = info / "synsets.txt"
    if synsets.is_file():
        lines = [s for s in synsets.read_text(encoding="utf-8").splitlines() if s.strip()]
        if len(lines) >= num_classes:
            class_names = tuple(s.strip() for s in lines[:num_classes])
    full = f" (first {len(t_paths)})" if max_test is not None else ""
    ds = FileImageDataset(
        root=root,
        paths=np.asarray(paths),
        noisy_labels=np.asarray(labels, dtype=np.int64),
        test_paths=np.asarray(t_paths),
        y_test=np.asarray(t_labels, dtype=np.int64),
        num_classes=int(num_classes),
        clean_labels=None,
        test_set=f"webvision{int(num_classes)}-val{full}",
        name=f"webvision{int(num_classes)}-{'+'.join(sources)}",
        class_names=class_names,
        meta={"source": str(root), "sources": "+".join(sources), "classes": int(num_classes)},
    )
    if check_files:
        ds.check_files()
    return ds


# ---------------------------------------------------------------------------- Clothing-1M
_CLOTHING_LAYOUT = (
    "expected Clothing-1M layout: <root>/annotations/{noisy_label_kv.txt, clean_label_kv.txt, "
    "noisy_train_key_list.txt, clean_test_key_list.txt} (kv lines 'images/<a>/<b>/<file>.jpg "
    "<label>') and images under <root>/images/"
)


def load_clothing1m(
    root: str | Path,
    test: str = "clean_test",
    *,
    max_train: int | None = None,
    max_test: int | None = None,
    check_files: bool = True,
) -> FileImageDataset:
    """Index Clothing-1M (Xiao et al., 2015): 1M shopping images labelled from their text.

    Training set: the keys of ``noisy_train_key_list.txt`` with labels from
    ``noisy_label_kv.txt`` (about 38.5% noise); their clean labels come from
    ``clean_label_kv.txt`` where a human verified them (a few percent of the rows; -1
    elsewhere). Test set: ``clean_test_key_list.txt`` (10,526 images) with clean labels.

    Parameters
    ----------
    root : path
        Clothing-1M folder (layout in the module docstring).
    test : {"clean_test", "clean_val"}
        Test split (``clean_val`` needs ``clean_val_key_list.txt``).
    max_train, max_test : int, optional
        Keep only the first keys (reading the kv files still parses all of them).
    check_files : bool
        Check that every kept image file exists (1M ``stat`` calls for the full set: seconds
        on a local disk, longer on network storage).

    Returns
    -------
    FileImageDataset
        14 classes. Use :meth:`~FileImageDataset.balanced_indices` to draw a class-balanced
        subset and :meth:`~FileImageDataset.materialize` to decode it.

    Raises
    ------
    ValueError
        For an unknown ``test``, a missing annotation file, a key without a label, or
        missing images.
    """
    if test not in ("clean_test", "clean_val"):
        raise ValueError(f"`test` must be 'clean_test' or 'clean_val', got {test!r}")
    _check_limit("max_train", max_train)
    _check_limit("max_test", max_test)
    root = Path(root)
    ann = root / "annotations"
    lay = _CLOTHING_LAYOUT
    noisy_kv = dict(zip(*_read_list(ann / "noisy_label_kv.txt", "Clothing-1M noisy labels", lay)))
    clean_kv = dict(zip(*_read_list(ann / "clean_label_kv.txt", "Clothing-1M clean labels", lay)))
    train_keys = _read_keys(ann / "noisy_train_key_list.txt", "Clothing-1M training key list", lay)
    test_keys = _read_keys(ann / f"{test}_key_list.txt", f"Clothing-1M {test} key list", lay)
    train_keys, test_keys = train_keys[:max_train], test_keys[:max_test]
    if not train_keys or not test_keys:
        raise ValueError(f"Clothing-1M key lists under {ann} are empty; {_CLOTHING_LAYOUT}")
    missing = [k for k in train_keys if k not in noisy_kv]
    if missing:
        raise ValueError(
            f"{len(missing)} training key(s) have no label in {ann / 'noisy_label_kv.txt'}, "
            f"e.g. {missing[0]!r}"
        )
    missing = [k for k in test_keys if k not in clean_kv]
    if missing:
        raise ValueError(
            f"{len(missing)} {test} key(s) have no label in {ann / 'clean_label_kv.txt'}, "
            f"e.g. {missing[0]!r}"
        )
    for kv, what in ((noisy_kv, "noisy"), (clean_kv, "clean")):
        top = max(kv.values(), default=0)
        if top >= 14:
            raise ValueError(f"Clothing-1M {what} labels must lie in [0, 14), found {top}")

    def rel(key: str) -> str:
        return key if key.startswith("images/") or Path(key).is_absolute() else f"images/{key}"

    names_file = ann / "category_names_eng.txt"
    class_names: tuple[str, ...] = CLOTHING1M_CLASSES
    if names_file.is_file():
        lines = [s.strip() for s in names_file.read_text(encoding="utf-8").splitlines() if s.strip()]
        if len(lines) == 14:
            class_names = tuple(lines)
    full = f" (first {len(test_keys)})" if max_test is not None else ""
    ds = FileImageDataset(
        root=root,
        paths=np.asarray([rel(k) for k in train_keys]),
        noisy_labels=np.asarray([noisy_kv[k] for k in train_keys], dtype=np.int64),
        test_paths=np.asarray([rel(k) for k in test_keys]),
        y_test=np.asarray([clean_kv[k] for k in test_keys], dtype=np.int64),
        num_classes=14,
        clean_labels=np.asarray([clean_kv.get(k, -1) for k in train_keys], dtype=np.int64),
        test_set=f"clothing1m-{test.replace('_', '')}{full}",
        name="clothing1m",
        class_names=class_names,
        meta={"source": str(root), "test": test},
    )
    if check_files:
        ds.check_files()
    return ds


# ---------------------------------------------------------------------------- ImageNet
def _scan_class_dirs(split_dir: Path, wnids: Sequence[str]) -> tuple[list[str], list[int]]:
    paths: list[str] = []
    labels: list[int] = []
    for label, wnid in enumerate(wnids):
        folder = split_dir / wnid
        if not folder.is_dir():
            continue
        with os.scandir(folder) as it:
            names = sorted(e.name for e in it if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS))
        paths += [f"{split_dir.name}/{wnid}/{name}" for name in names]
        labels += [label] * len(names)
    return paths, labels


def load_imagenet(
    root: str | Path,
    *,
    num_classes: int | None = None,
    max_train: int | None = None,
    max_test: int | None = None,
) -> FileImageDataset:
    """Index ImageNet-1K (ILSVRC-2012) in the standard class-folder layout.

    ``root/train/<wnid>/*.JPEG`` and ``root/val/<wnid>/*.JPEG`` (the validation images
    sorted into class folders, e.g. with the usual ``valprep.sh``). Labels are the indices
    of the wnids in sorted order (the torchvision / timm convention); files are sorted by
    name within a class.

    ImageNet's labels are treated as clean: ``noisy_labels`` equals ``clean_labels``.
    Add synthetic noise with ``ds.with_labels(symmetric_noise(ds.noisy_labels, rate,
    ds.num_classes, seed)[0])``.

    Parameters
    ----------
    root : path
    num_classes : int, optional
        Keep only the first ``num_classes`` wnids in sorted order (ImageNet-100-style
        subsets; also how mini-WebVision is evaluated on ImageNet, ``num_classes=50``).
    max_train, max_test : int, optional
        Keep only the first rows (class-major order: with a small limit, only the first
        classes appear).

    Returns
    -------
    FileImageDataset
        ``class_names`` are the wnids.

    Raises
    ------
    ValueError
        For a missing ``train``/``val`` folder, no class folders, or a ``val`` folder that
        is flat (not sorted into ``<wnid>`` folders) or names unknown classes.
    """
    _check_limit("max_train", max_train)
    _check_limit("max_test", max_test)
    root = Path(root)
    layout = "expected ImageNet layout: <root>/train/<wnid>/*.JPEG and <root>/val/<wnid>/*.JPEG"
    train_dir, val_dir = root / "train", root / "val"
    for d in (train_dir, val_dir):
        if not d.is_dir():
            raise ValueError(f"ImageNet folder not found: {d}; {layout}")
    wnids = sorted(e.name for e in os.scandir(train_dir) if e.is_dir())
    if len(wnids) < 2:
        raise ValueError(f"{train_dir} holds {len(wnids)} class folder(s), need at least 2; {layout}")
    val_wnids = sorted(e.name for e in os.scandir(val_dir) if e.is_dir())
    if not val_wnids:
        raise ValueError(
            f"{val_dir} has no class folders: sort the validation images into <wnid> folders "
            f"(e.g. with valprep.sh); {layout}"
        )
    unknown = sorted(set(val_wnids) - set(wnids))
    if unknown:
        raise ValueError(f"{val_dir} has class folders missing from {train_dir}: {unknown[:5]}")
    if num_classes is not None:
        ok = not isinstance(num_classes, bool) and int(num_classes) == num_classes
        if not (ok and 2 <= num_classes <= len(wnids)):
            raise ValueError(f"`num_classes` must be an integer in [2, {len(wnids)}], got {num_classes!r}")
        wnids = wnids[: int(num_classes)]
    paths, labels = _scan_class_dirs(train_dir, wnids)
    t_paths, t_labels = _scan_class_dirs(val_dir, wnids)
    paths, labels = paths[:max_train], labels[:max_train]
    t_paths, t_labels = t_paths[:max_test], t_labels[:max_test]
    if not paths or not t_paths:
        raise ValueError(f"no images found under {train_dir} or {val_dir}; {layout}")
    y = np.asarray(labels, dtype=np.int64)
    full = f" (first {len(t_paths)})" if max_test is not None else ""
    k = len(wnids)
    return FileImageDataset(
        root=root,
        paths=np.asarray(paths),
        noisy_labels=y,
        test_paths=np.asarray(t_paths),
        y_test=np.asarray(t_labels, dtype=np.int64),
        num_classes=k,
        clean_labels=y.copy(),
        test_set=f"imagenet{'' if k == 1000 else k}-val{full}",
        name=f"imagenet{'' if k == 1000 else k}",
        class_names=tuple(wnids),
        meta={"source": str(root), "classes": k, "label_noise": "none (add synthetic noise)"},
    )
