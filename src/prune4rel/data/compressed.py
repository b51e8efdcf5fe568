"""CIFAR-10 stored as compressed image bytes (the 46 MiB ``cifar10_small_webpq95.npz`` copy).

Layout: ``train_webp`` (concatenated WebP files, quality 95) with ``train_webp_offsets``
(N + 1,), ``y_train``; ``test_exact1k_png`` + offsets (lossless, bit-exact first 1,000 test
images), ``y_test_exact1k``; ``test_jpeg`` + offsets, ``y_test_jpeg`` (all 10,000 test images
from JPEG). Image ``i`` is ``bytes[offsets[i]:offsets[i + 1]]``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

__all__ = ["COMPRESSED_CIFAR10", "decode_images", "read_compressed_cifar10"]

COMPRESSED_CIFAR10 = "cifar10_small_webpq95.npz"
_TEST_KEYS = {"exact1k": ("test_exact1k_png", "y_test_exact1k"), "jpeg10k": ("test_jpeg", "y_test_jpeg")}


def decode_images(buffer: np.ndarray, offsets: np.ndarray, stop: int | None = None) -> np.ndarray:
    """Decode concatenated image files into an (N, H, W, 3) uint8 array.

    Parameters
    ----------
    buffer : ndarray of uint8, shape (total_bytes,)
    offsets : ndarray of int, shape (N + 1,)
        Image ``i`` occupies ``buffer[offsets[i]:offsets[i + 1]]``.
    stop : int, optional
        Decode only the first ``stop`` images.
    """
    from PIL import Image  # Pillow comes with matplotlib; imported lazily

    count = len(offsets) - 1 if stop is None else min(int(stop), len(offsets) - 1)
    if count < 0 or np.any(np.diff(offsets[: count + 1]) <= 0) or offsets[count] > buffer.size:
        raise ValueError("image offsets are not increasing or run past the byte buffer")
    first = np.asarray(Image.open(io.BytesIO(buffer[offsets[0] : offsets[1]].tobytes())).convert("RGB"))
    out = np.empty((count, *first.shape), dtype=np.uint8)
    for i in range(count):
        data = buffer[offsets[i] : offsets[i + 1]].tobytes()
        out[i] = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return out


def read_compressed_cifar10(
    path: str | Path, test: str = "exact1k", max_train: int | None = None, max_test: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Decode ``(x_train, y_train, x_test, y_test)`` from the compressed CIFAR-10 file.

    Parameters
    ----------
    path : path
        The ``.npz`` file (layout in the module docstring).
    test : {"exact1k", "jpeg10k"}
    max_train, max_test : int, optional
        Decode only the first examples.

    Returns
    -------
    x_train : uint8 (N, 32, 32, 3); y_train : int64 (N,); x_test, y_test likewise.
    """
    if test not in _TEST_KEYS:
        raise ValueError(f"`test` must be one of {sorted(_TEST_KEYS)} for {COMPRESSED_CIFAR10}, got {test!r}")
    test_bytes, test_labels = _TEST_KEYS[test]
    try:
        with np.load(path, allow_pickle=False) as npz:
            x = decode_images(npz["train_webp"], npz["train_webp_offsets"], max_train)
            y = npz["y_train"][: len(x)].astype(np.int64)
            x_te = decode_images(npz[test_bytes], npz[f"{test_bytes}_offsets"], max_test)
            y_te = npz[test_labels][: len(x_te)].astype(np.int64)
    except KeyError as exc:
        raise ValueError(f"{path} lacks array {exc}; expected the {COMPRESSED_CIFAR10} layout") from exc
    return x, y, x_te, y_te
