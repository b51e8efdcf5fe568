"""Clothing-1M (Xiao et al., 2015) indexed as a :class:`FileImageDataset`.

Expected layout (paths relative to the ``root`` the user names)::

    annotations/noisy_label_kv.txt        lines "images/0/00/<file>.jpg <label>"
    annotations/clean_label_kv.txt        same format, human-verified labels
    annotations/noisy_train_key_list.txt  one key per line (the 1M noisy training set)
    annotations/clean_test_key_list.txt   the 10,526 clean test keys
    annotations/clean_val_key_list.txt    optional (test="clean_val")
    annotations/category_names_eng.txt    optional, 14 class names
    images/0/00/<file>.jpg                images (a key without "images/" is looked up
                                          under images/)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prune4rel.data.checks import check_limit
from prune4rel.data.image_files import FileImageDataset
from prune4rel.data.listings import read_key_list, read_label_list

__all__ = ["CLOTHING1M_CLASSES", "load_clothing1m"]

#: Clothing-1M's 14 classes in label order.
CLOTHING1M_CLASSES = (
    "T-Shirt", "Shirt", "Knitwear", "Chiffon", "Sweater", "Hoodie", "Windbreaker", "Jacket",
    "Down Coat", "Suit", "Shawl", "Dress", "Vest", "Underwear",
)
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
    check_limit("max_train", max_train)
    check_limit("max_test", max_test)
    root = Path(root)
    ann = root / "annotations"
    lay = _CLOTHING_LAYOUT
    noisy_kv = dict(zip(*read_label_list(ann / "noisy_label_kv.txt", "Clothing-1M noisy labels", lay)))
    clean_kv = dict(zip(*read_label_list(ann / "clean_label_kv.txt", "Clothing-1M clean labels", lay)))
    train_keys = read_key_list(ann / "noisy_train_key_list.txt", "Clothing-1M training key list", lay)
    test_keys = read_key_list(ann / f"{test}_key_list.txt", f"Clothing-1M {test} key list", lay)
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
