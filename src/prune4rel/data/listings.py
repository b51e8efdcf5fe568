"""Readers of the listings that index image files: annotation lists, key lists, class folders, CSVs.

Each returns plain lists (paths and integer labels) and raises ValueError naming the file
(and line) that does not parse; the layouts in :mod:`prune4rel.data.layouts` turn them into
a :class:`~prune4rel.data.image_files.FileImageDataset`.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = [
    "IMAGE_EXTENSIONS",
    "read_csv_rows",
    "read_key_list",
    "read_label_list",
    "scan_class_folders",
]

#: File endings (lower case) that folder scans treat as images.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm")


def read_label_list(
    path: Path, what: str, layout: str, keep: Callable[[int], bool] | None = None
) -> tuple[list[str], list[int]]:
    """Lines "<relative path> <int label>" (whitespace separated) of an annotation file.

    Parameters
    ----------
    path : Path
    what, layout : str
        The file's role and the expected layout, quoted when the file is missing.
    keep : callable, optional
        Keep only the rows whose label it accepts.

    Raises
    ------
    ValueError
        For a missing file or a malformed line (with its number).
    """
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


def read_key_list(path: Path, what: str, layout: str) -> list[str]:
    """Non-empty lines (stripped) of a key-list file; ``what``/``layout`` as in :func:`read_label_list`."""
    if not path.is_file():
        raise ValueError(f"{what} file not found: {path}; {layout}")
    with path.open(encoding="utf-8") as fh:
        return [s for s in (line.strip() for line in fh) if s]


def scan_class_folders(split_dir: Path, wnids: Sequence[str]) -> tuple[list[str], list[int]]:
    """Image files of ``split_dir/<wnid>/`` for each wnid (label = its position), sorted by name.

    Paths are relative to ``split_dir``'s parent; a missing class folder contributes nothing.
    """
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


def read_csv_rows(csv_path: Path) -> tuple[list[str], list[int], list[int] | None]:
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
