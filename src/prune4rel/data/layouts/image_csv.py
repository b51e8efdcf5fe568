"""Any labelled image list: a CSV of paths, indexed as a :class:`FileImageDataset` or decoded.

The CSV has a header row naming the columns ``path``, ``label`` and optionally
``clean_label`` (see :func:`load_image_folder`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from prune4rel.data.checks import check_limit, infer_num_classes
from prune4rel.data.dataset import NoisyDataset
from prune4rel.data.decode import ImageSize
from prune4rel.data.holdout import clean_where_known, hold_out
from prune4rel.data.image_files import FileImageDataset
from prune4rel.data.listings import read_csv_rows

__all__ = ["index_image_csv", "load_image_folder"]


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
    paths, labels, clean = read_csv_rows(csv_path)
    noisy = np.asarray(labels, dtype=np.int64)
    clean_arr = None if clean is None else np.asarray(clean, dtype=np.int64)
    if test_csv is not None:
        t_paths, t_labels, t_clean = read_csv_rows(Path(test_csv))
        t_known = None if t_clean is None else np.asarray(t_clean, dtype=np.int64)
        y_test = clean_where_known(np.asarray(t_labels, dtype=np.int64), t_known)
        test_paths = np.asarray(t_paths, dtype=str)
        train_paths = np.asarray(paths, dtype=str)
        test_set = f"{name or csv_path.stem}-{Path(test_csv).stem}"
        test_labels = "test_csv"
    else:
        split = hold_out(len(paths), clean_arr, test_size, seed, str(csv_path))
        te, tr = split.test_rows, split.train_rows
        all_paths = np.asarray(paths, dtype=str)
        test_paths, train_paths = all_paths[te], all_paths[tr]
        y_test = clean_where_known(noisy, clean_arr)[te]
        test_labels = "clean" if split.exact else "noisy (no clean_label for every held-out row)"
        test_set = f"{name or csv_path.stem}-{split.tag}"
        noisy = noisy[tr]
        clean_arr = None if clean_arr is None else clean_arr[tr]
    if num_classes is None:
        num_classes = infer_num_classes(noisy, y_test, clean_arr)
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
    check_limit("max_train", max_train)
    check_limit("max_test", max_test)
    index = index_image_csv(
        csv_path, root, test_csv, num_classes=num_classes, test_size=test_size, seed=seed,
        class_names=class_names, check_files=True, name=name,
    )
    return index.materialize(
        max_train, max_test, image_size, mode=mode, workers=workers, progress=progress, max_bytes=None,
    )
