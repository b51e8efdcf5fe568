"""Decoding image files into uint8 arrays, in memory or into a resumable on-disk cache.

:func:`decode_many` decodes a list of files into one (N, H, W, C) uint8 array in RAM.
:func:`decode_images_to_npy` decodes them into a ``.npy`` file instead, chunk by chunk, and
returns it memory-mapped: the form for sets larger than RAM (Clothing-1M, ImageNet), which
the learners then read batch by batch (see :class:`prune4rel.data.input_pipeline.InputPipeline`).
The cache is keyed by the file list, the image size and the colour mode; an interrupted
decode resumes from its last finished chunk, and the finished file appears atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from prune4rel._io import ResumeWarning, atomic_write_json

__all__ = ["GIB", "ImageSize", "ImageSource", "decode_image", "decode_images_to_npy", "decode_many"]

GIB = 1 << 30
#: Cache file format version (part of every cache key).
_CACHE_VERSION = 1

ImageSize = int | tuple[int, int] | None
#: An image file, or an open binary stream of one (its ``str()`` names it in messages and
#: in the cache key).
ImageSource = str | Path | BinaryIO


def check_image_size(image_size: ImageSize) -> tuple[int, int] | int | None:
    if image_size is None:
        return None
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        if image_size >= 1:
            return int(image_size)
    elif (
        isinstance(image_size, (tuple, list))
        and len(image_size) == 2
        and all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1 for s in image_size)
    ):
        return (int(image_size[0]), int(image_size[1]))
    raise ValueError(
        f"`image_size` must be None, a positive int (short side, then centre crop) or a pair "
        f"(height, width), got {image_size!r}"
    )


def decode_image(path: ImageSource, image_size: ImageSize = None, mode: str = "RGB") -> np.ndarray:
    """Read one image file with Pillow.

    Parameters
    ----------
    path : path or binary stream
        An image file, or an open stream of one's bytes (read from its start).
    image_size : int, (height, width) or None
        An int resizes the shorter side to ``image_size`` (bilinear, antialiased) and
        centre-crops a square; a pair resizes to exactly that shape; None keeps the size.
        Large JPEGs are decoded at a reduced scale first (Pillow's ``draft``), which is much
        faster and visually equivalent.
    mode : {"RGB", "L"}
        Colour mode: 3 channels or grey.

    Returns
    -------
    ndarray of uint8, shape (H, W, C)
        ``C`` is 3 for "RGB", 1 for "L".

    Raises
    ------
    ValueError
        When the file is missing or is not a readable image (the message names it).
    """
    from PIL import Image, UnidentifiedImageError

    size = check_image_size(image_size)
    if mode not in ("RGB", "L"):
        raise ValueError(f"`mode` must be 'RGB' or 'L', got {mode!r}")
    try:
        with Image.open(path) as img:
            if size is not None and img.format == "JPEG":
                want = (size, size) if isinstance(size, int) else (size[1], size[0])
                img.draft(mode, want)
            img = img.convert(mode)
            if isinstance(size, int):
                w, h = img.size
                scale = size / min(w, h)
                nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
                img = img.resize((nw, nh), Image.Resampling.BILINEAR)
                left, top = (nw - size) // 2, (nh - size) // 2
                img = img.crop((left, top, left + size, top + size))
            elif size is not None:
                img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
    except FileNotFoundError as exc:
        raise ValueError(f"image file not found: {path}") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from exc
    return arr[..., None] if arr.ndim == 2 else arr


def _decode_rows(
    paths: Sequence[ImageSource], out: np.ndarray, first_shape: tuple[int, ...], image_size: ImageSize,
    mode: str, workers: int, bar: Any,
) -> None:
    """Decode ``paths[k]`` into ``out[k]`` for every k (threads: Pillow's decoders release the
    GIL); every image must have ``first_shape``."""

    def one(i: int) -> None:
        arr = decode_image(paths[i], image_size, mode)
        if arr.shape != first_shape:
            raise ValueError(
                f"image {paths[i]} has shape {arr.shape} but the first image has {first_shape}: "
                "pass `image_size` to resize every image to one shape"
            )
        out[i] = arr

    if workers <= 1:
        for i in range(len(paths)):
            one(i)
            bar.update(1)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(one, range(len(paths))):
                bar.update(1)


def decode_many(
    paths: Sequence[ImageSource],
    image_size: ImageSize,
    mode: str,
    workers: int,
    progress: bool,
    desc: str,
    max_bytes: int | None,
    extra_rows: int = 0,
) -> np.ndarray:
    """Decode ``paths`` in order into one in-memory (N, H, W, C) uint8 array.

    ``max_bytes`` bounds the allocation, counting ``extra_rows`` more images of the same
    shape that the caller will decode next (None: no bound).
    """
    from tqdm.auto import tqdm

    first = decode_image(paths[0], image_size, mode)
    total = (len(paths) + extra_rows) * first.nbytes
    if max_bytes is not None and total > max_bytes:
        raise ValueError(
            f"decoding {len(paths) + extra_rows} images of shape {first.shape} needs "
            f"{total / GIB:.1f} GiB, over `max_bytes` ({max_bytes / GIB:.1f} GiB): lower "
            "`max_train` / `max_test` or `image_size`, raise `max_bytes`, or decode into an "
            "on-disk cache (`cache=`)"
        )
    out = np.empty((len(paths), *first.shape), dtype=np.uint8)
    out[0] = first
    with tqdm(total=len(paths), initial=1, desc=desc, disable=not progress, unit="img") as bar:
        _decode_rows(paths[1:], out[1:], first.shape, image_size, mode, workers, bar)
    return out


def cache_key(paths: Sequence[ImageSource], image_size: ImageSize, mode: str) -> str:
    """The 16-hex-digit key of a decoded set: file list (in order), image size and mode."""
    h = hashlib.sha256(f"prune4rel-decoded v{_CACHE_VERSION} {image_size!r} {mode}".encode())
    for p in paths:
        h.update(b"\0" + str(p).encode())
    return h.hexdigest()[:16]


def _load_finished(dest: Path, n: int) -> np.ndarray | None:
    """The memory-mapped cache file at ``dest`` when it is a readable (n, H, W, C) uint8 array."""
    if not dest.exists():
        return None
    try:
        arr = np.load(dest, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        why = f"is not a readable .npy file ({exc})"
    else:
        if arr.dtype == np.uint8 and arr.ndim == 4 and arr.shape[0] == n:
            return arr
        why = f"holds {arr.dtype} {arr.shape}, not {n} uint8 images"
    warnings.warn(f"decoded-image cache {dest} {why}; decoding again", ResumeWarning, stacklevel=3)
    dest.unlink()
    return None


def decode_images_to_npy(
    paths: Sequence[ImageSource],
    cache_dir: str | Path,
    image_size: ImageSize,
    mode: str = "RGB",
    *,
    prefix: str = "images",
    workers: int = 1,
    progress: bool = False,
    desc: str = "decoding",
    chunk_rows: int = 4096,
) -> np.ndarray:
    """Decode ``paths`` into ``cache_dir/<prefix>-<key>.npy`` and return it memory-mapped.

    Parameters
    ----------
    paths : sequence of path, length N
    cache_dir : path
        Folder of the cache (created when missing). Needs ``N * H * W * C`` bytes free.
    image_size, mode
        As in :func:`decode_image`; with ``image_size=None`` every file must have one shape.
    prefix : str
        File name prefix (e.g. ``"train"``, ``"test"``).
    workers : int
        Decoding threads.
    progress : bool
        Show a tqdm bar (rows already in the cache count as done).
    desc : str
        The bar's label.
    chunk_rows : int
        Rows decoded between two progress records: an interrupted decode loses at most
        one chunk.

    Returns
    -------
    numpy.memmap of uint8, shape (N, H, W, C), read-only
        Row ``k`` is ``paths[k]``. A finished cache with the same key is reused without
        decoding anything.

    Raises
    ------
    ValueError
        When a file is missing or unreadable, shapes differ, or the disk lacks the space.
    """
    from numpy.lib.format import open_memmap
    from tqdm.auto import tqdm

    if len(paths) == 0:
        raise ValueError("`paths` is empty: nothing to decode")
    if isinstance(chunk_rows, bool) or int(chunk_rows) != chunk_rows or chunk_rows < 1:
        raise ValueError(f"`chunk_rows` must be a positive integer, got {chunk_rows!r}")
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    n = len(paths)
    key = cache_key(paths, image_size, mode)
    dest = folder / f"{prefix}-{key}.npy"
    done = _load_finished(dest, n)
    if done is not None:
        return done
    partial, record = dest.with_name(dest.name + ".partial"), dest.with_name(dest.name + ".progress.json")
    first = decode_image(paths[0], image_size, mode)
    shape = (n, *first.shape)
    start = _resume_point(partial, record, key, shape)
    if start == 0:
        need = n * first.nbytes - (partial.stat().st_size if partial.exists() else 0)
        free = shutil.disk_usage(folder).free
        if need > free:
            raise ValueError(
                f"decoding {n} images of shape {first.shape} into {folder} needs "
                f"{need / GIB:.1f} GiB of disk, only {free / GIB:.1f} GiB free: choose another "
                "cache folder or a smaller `image_size`"
            )
        out = open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)
        out[0] = first
    else:
        out = open_memmap(partial, mode="r+")
    with tqdm(total=n, initial=max(start, 1), desc=desc, disable=not progress, unit="img") as bar:
        for a in range(start, n, int(chunk_rows)):
            b, lo = min(n, a + int(chunk_rows)), max(a, 1)  # row 0 is `first`
            _decode_rows(paths[lo:b], out[lo:b], first.shape, image_size, mode, workers, bar)
            out.flush()
            atomic_write_json(record, {"key": key, "shape": list(shape), "rows_done": b})
    del out
    with open(partial, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(partial, dest)
    record.unlink()
    return np.load(dest, mmap_mode="r", allow_pickle=False)


def _resume_point(partial: Path, record: Path, key: str, shape: tuple[int, ...]) -> int:
    """Rows already decoded into ``partial`` (0 when there is nothing valid to resume)."""
    if not (partial.exists() and record.exists()):
        return 0
    try:
        info = json.loads(record.read_text())
        rows = int(info["rows_done"])
        ok = info["key"] == key and tuple(info["shape"]) == shape and 0 <= rows <= shape[0]
        if ok:
            arr = np.load(partial, mmap_mode="r", allow_pickle=False)
            ok = arr.shape == shape and arr.dtype == np.uint8
    except (OSError, ValueError, KeyError, TypeError) as exc:
        why = f"cannot be read ({exc})"
    else:
        if ok:
            return rows
        why = "belongs to another decode"
    warnings.warn(f"partial decode {partial} {why}; starting over", ResumeWarning, stacklevel=3)
    return 0
