"""An image dataset saved with Hugging Face ``datasets`` (``Dataset.save_to_disk``).

:func:`load_hf_images` reads the folder with ``datasets.load_from_disk`` (optional extra
``[hf]``): a ``Dataset``, or a ``DatasetDict`` whose ``"train"`` split is the training set.
The image column must be a ``datasets.Image`` feature (encoded bytes, or paths of image
files); the label column holds integer class ids (a ``ClassLabel`` feature also names the
classes). Images are decoded like image files (:func:`~prune4rel.data.decode.decode_image`:
resized and centre-cropped to ``image_size``), into memory or a memory-mapped cache.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from prune4rel.data.checks import check_limit, infer_num_classes
from prune4rel.data.dataset import NoisyDataset
from prune4rel.data.decode import GIB, ImageSize, check_image_size, decode_images_to_npy, decode_many
from prune4rel.data.holdout import clean_where_known, hold_out

__all__ = ["load_hf_images"]


class _EncodedImage(io.BytesIO):
    """One image's encoded bytes, named ``hf:<blake2b of the bytes> (<where>)`` in messages and
    in the decoded-image cache key: a folder saved again with other images gets another key."""

    def __init__(self, data: bytes, where: str) -> None:
        super().__init__(data)
        self._label = f"hf:{hashlib.blake2b(data, digest_size=8).hexdigest()} ({where})"

    def __str__(self) -> str:
        return self._label


def _datasets() -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise ImportError("dataset 'hf' needs Hugging Face datasets: pip install 'prune4rel[hf]'") from exc
    return datasets


def _load(path: str | Path, what: str) -> Any:
    datasets = _datasets()
    try:
        return datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise ValueError(
            f"{what} {path} is not a folder written by datasets' save_to_disk ({exc})"
        ) from None


def _split(obj: Any, name: str | None, default: str, what: str) -> Any:
    """``obj`` itself (a Dataset) or its split ``name`` (a DatasetDict; ``default`` when None)."""
    datasets = _datasets()
    if isinstance(obj, datasets.Dataset):
        if name is not None:
            raise ValueError(f"{what} is a Dataset without splits; `test_split` {name!r} needs a DatasetDict")
        return obj
    key = default if name is None else name
    if key not in obj:
        raise ValueError(f"{what} has no split {key!r}; it has {sorted(obj)}")
    return obj[key]


def _column(ds: Any, column: str, what: str) -> None:
    if column not in ds.column_names:
        raise ValueError(f"{what} has no column {column!r}; its columns are {ds.column_names}")


def _labels(ds: Any, column: str, what: str) -> np.ndarray:
    _column(ds, column, what)
    values = np.asarray(ds[column])
    if values.ndim != 1 or (values.size and not np.issubdtype(values.dtype, np.integer)):
        raise ValueError(f"column {column!r} of {what} must hold integer class ids, got {values.dtype}")
    return values.astype(np.int64)


def _sources(ds: Any, column: str, rows: np.ndarray, what: str) -> list[BinaryIO | Path]:
    """One decodable source per row of ``rows``: its encoded bytes, or the file it names."""
    datasets = _datasets()
    _column(ds, column, what)
    if not isinstance(ds.features[column], datasets.Image):
        raise ValueError(
            f"column {column!r} of {what} is {ds.features[column]!r}, not an image feature: cast it with "
            f"ds.cast_column({column!r}, datasets.Image()) before save_to_disk"
        )
    cells = ds.cast_column(column, datasets.Image(decode=False)).select(rows)[column]
    out: list[BinaryIO | Path] = []
    for i, cell in zip(rows.tolist(), cells):
        if cell.get("bytes") is not None:
            out.append(_EncodedImage(cell["bytes"], f"{what} row {i}"))
        elif cell.get("path"):
            out.append(Path(cell["path"]))
        else:
            raise ValueError(f"row {i} of {what} has no image (neither bytes nor a path)")
    return out


def _test_set(obj: Any, test_split: str | None, test_path: str | Path | None) -> Any:
    """The test Dataset named by ``test_path`` / ``test_split``, or None (hold out a share)."""
    if test_path is not None:
        what = f"`data.test_path` {test_path}"
        return _split(_load(test_path, "`data.test_path`"), test_split, "test", what)
    if test_split is None and (isinstance(obj, _datasets().Dataset) or "test" not in obj):
        return None
    return _split(obj, test_split, "test", "`data.path`")


def load_hf_images(
    path: str | Path,
    *,
    image_column: str = "image",
    label_column: str = "label",
    clean_label_column: str | None = None,
    test_split: str | None = None,
    test_path: str | Path | None = None,
    test_size: float = 0.2,
    seed: int = 0,
    image_size: ImageSize = 64,
    mode: str = "RGB",
    max_train: int | None = None,
    max_test: int | None = None,
    cache: str | Path | None = None,
    max_bytes: int | None = 16 * GIB,
    workers: int | None = None,
    progress: bool = False,
) -> NoisyDataset:
    """Load an image dataset saved with ``datasets.Dataset.save_to_disk``.

    Parameters
    ----------
    path : path
        The saved folder: a ``Dataset`` (the training set) or a ``DatasetDict`` (its
        ``"train"`` split is the training set).
    image_column : str
        A ``datasets.Image`` column.
    label_column : str
        The given (possibly noisy) integer labels.
    clean_label_column : str, optional
        True labels (evaluation only); ``-1`` marks an unknown one. Passed on when every
        kept training row has one (else ``meta["clean_labels_known"]`` counts them). In the
        test rows, known clean labels replace the given ones.
    test_split : str, optional
        The test split of a ``DatasetDict`` (default: ``"test"`` when there is one).
    test_path : path, optional
        Another saved folder as the test set (a ``Dataset``, or the ``test_split`` / ``"test"``
        split of a ``DatasetDict``).
    test_size : float
        Without a test split or ``test_path``: the seeded share of training rows held out,
        in (0, 1) (their labels: clean where every held-out row has one, else the given ones;
        the test set's name then ends in ``-noisylabels``).
    seed : int
        Seed of the hold-out split.
    image_size, mode
        As in :func:`~prune4rel.data.decode.decode_image`.
    max_train, max_test : int, optional
        Keep only the first rows (after the hold-out split).
    cache : path, optional
        Decode into memory-mapped ``.npy`` files in this folder (keyed by the images' bytes,
        size and mode) instead of RAM.
    max_bytes : int, optional
        Refuse to decode more than this into RAM (without ``cache``).
    workers : int, optional
        Decoding threads (default ``min(8, cpu count)``).
    progress : bool

    Returns
    -------
    NoisyDataset
        Images (N, H, W, C) uint8; ``class_names`` from a ``ClassLabel`` label feature.

    Raises
    ------
    ValueError
        For a folder that ``load_from_disk`` cannot read, a missing split or column, labels
        that are not integers, an image column that is not an image feature, or unreadable
        images. ImportError without ``datasets`` (extra ``[hf]``).

    Notes
    -----
    The encoded images of the kept rows are read into memory once (compressed: a small
    share of the decoded size) before decoding.
    """
    check_limit("max_train", max_train)
    check_limit("max_test", max_test)
    check_limit("workers", workers)
    size = check_image_size(image_size)
    name = Path(path).name or "hf"
    obj = _load(path, "`data.path`")
    train = _split(obj, None, "train", f"`data.path` {path}")
    noisy = _labels(train, label_column, f"{name} (train)")
    clean = None if clean_label_column is None else _labels(train, clean_label_column, f"{name} (train)")
    test = _test_set(obj, test_split, test_path)
    if test is not None:
        y_test = _labels(test, label_column, f"{name} (test)")
        if clean_label_column is not None and clean_label_column in test.column_names:
            y_test = clean_where_known(y_test, _labels(test, clean_label_column, f"{name} (test)"))
        test_rows, train_rows = np.arange(len(test)), np.arange(len(train))
        test_set = f"{name}-{test_split or 'test'}"
    else:
        split = hold_out(len(train), clean, test_size, seed, f"{name}'s training split")
        test_rows, train_rows = split.test_rows, split.train_rows
        y_test = clean_where_known(noisy, clean)
        test_set = f"{name}-{split.tag}"
        test = train
    train_rows, test_rows = train_rows[:max_train], test_rows[:max_test]
    feature = train.features[label_column]
    class_names = tuple(feature.names) if isinstance(feature, _datasets().ClassLabel) else None
    num_classes = len(class_names) if class_names else infer_num_classes(noisy, y_test, clean)
    train_src = _sources(train, image_column, train_rows, f"{name} (train)")
    held_out = "train, held out" if test is train else "test"
    test_src = _sources(test, image_column, test_rows, f"{name} ({held_out})")
    threads = max(1, min(8, os.cpu_count() or 1)) if workers is None else int(workers)
    if cache is not None:
        x, x_test = (
            decode_images_to_npy(src, cache, size, mode, prefix=part, workers=threads, progress=progress,
                                 desc=f"{name} {part}")
            for src, part in ((train_src, "train"), (test_src, "test"))
        )
    else:
        x = decode_many(train_src, size, mode, threads, progress, f"{name} train", max_bytes,
                        extra_rows=len(test_src))
        x_test = decode_many(test_src, size, mode, threads, progress, f"{name} test",
                             None if max_bytes is None else max_bytes - x.nbytes)
    if x_test.shape[1:] != x.shape[1:]:
        raise ValueError(
            f"training images have shape {x.shape[1:]} but test images {x_test.shape[1:]}: set `image_size`"
        )
    meta: dict[str, Any] = {
        "source": str(path), "test_labels": test_set,
        "image_size": None if size is None else (size if isinstance(size, int) else list(size)),
        "decoded_cache": None if cache is None else str(cache),
    }
    clean_train = None if clean is None else clean[train_rows]
    if clean_train is not None and np.any(clean_train < 0):
        meta["clean_labels_known"] = int(np.sum(clean_train >= 0))
        clean_train = None
    return NoisyDataset(
        x=x, noisy_labels=noisy[train_rows], x_test=x_test, y_test=y_test[test_rows], num_classes=num_classes,
        clean_labels=clean_train, test_set=test_set, name=name, class_names=class_names, meta=meta,
    )
