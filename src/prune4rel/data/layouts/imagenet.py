"""ImageNet-1K (ILSVRC-2012) indexed as a :class:`FileImageDataset`.

Expected layout (paths relative to the ``root`` the user names)::

    train/<wnid>/*.JPEG    val/<wnid>/*.JPEG    (labels = index of the wnid in sorted order)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from prune4rel.data.checks import check_limit
from prune4rel.data.image_files import FileImageDataset
from prune4rel.data.listings import scan_class_folders

__all__ = ["load_imagenet"]


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
    check_limit("max_train", max_train)
    check_limit("max_test", max_test)
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
    paths, labels = scan_class_folders(train_dir, wnids)
    t_paths, t_labels = scan_class_folders(val_dir, wnids)
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
