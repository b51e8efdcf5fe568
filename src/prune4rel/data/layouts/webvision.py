"""WebVision 1.0 (Li et al., 2017) indexed as a :class:`FileImageDataset`.

Expected layout (paths relative to the ``root`` the user names)::

    info/train_filelist_google.txt   lines "google/q0001/<file>.jpg <label>"
    info/train_filelist_flickr.txt   (only for sources=("google", "flickr"))
    info/val_filelist.txt            lines "<file>.jpg <label>"
    info/synsets.txt                 optional, one "<wnid> <name>" line per class
    google/..., flickr/...           training images
    val_images_256/<file>.jpg        validation images
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from prune4rel.data.checks import check_limit
from prune4rel.data.image_files import FileImageDataset
from prune4rel.data.listings import read_label_list

__all__ = ["load_webvision"]

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
    check_limit("max_train", max_train)
    check_limit("max_test", max_test)
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
        p, y = read_label_list(
            info / f"train_filelist_{src}.txt", "WebVision training list", _WEBVISION_LAYOUT, keep
        )
        paths += p
        labels += y
    t_paths, t_labels = read_label_list(
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
