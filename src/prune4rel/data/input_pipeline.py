"""The input pipeline: raw inputs staged once, index batches gathered and normalised.

Raw inputs go to the device once, or stay a memory-mapped host view read one batch at a
time (see :class:`InputPipeline`).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from prune4rel.data.dataset import is_memory_mapped

__all__ = ["InputPipeline"]


def _read_only_tensor(arr: np.ndarray) -> torch.Tensor:
    """``torch.from_numpy`` without its warning for read-only arrays (memory-mapped files):
    the pipeline only reads raw inputs, it never writes into them."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(arr)


class InputPipeline:
    """Moves raw inputs to a device once and turns index batches into normalised tensors.

    Images stay uint8, channels last, on the device (4x less memory than float) and are
    converted per batch: ``(x / 255 - mean) / std``, channels first. Features are stored
    as float32 and standardised per feature. Memory-mapped images (a decode cache, a
    ``np.load(..., mmap_mode="r")`` array) are not copied: :meth:`stage` keeps them a host
    view of the file and :meth:`gather` reads and moves one batch at a time.

    Parameters
    ----------
    mean, std : ndarray of float, shape (C,) or (F,)
        From :meth:`NoisyDataset.normalization`.
    is_image : bool
    device : torch.device or str
    """

    def __init__(self, mean: np.ndarray, std: np.ndarray, is_image: bool, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.is_image = is_image
        shape = (1, -1, 1, 1) if is_image else (1, -1)
        self.mean = torch.as_tensor(np.asarray(mean, np.float32), device=self.device).reshape(shape)
        self.std = torch.as_tensor(np.asarray(std, np.float32), device=self.device).reshape(shape)

    def stage(self, x: np.ndarray) -> torch.Tensor:
        """The training set's raw inputs for :meth:`gather`: on the device, except
        memory-mapped images, which stay a zero-copy host view of the file.

        Parameters
        ----------
        x : ndarray, shape (N, H, W, C) uint8 or (N, F) float

        Returns
        -------
        torch.Tensor, shape of ``x``
        """
        if self.is_image and is_memory_mapped(x):
            if x.dtype != np.uint8:
                raise ValueError(f"image inputs must be uint8 (N, H, W, C), got {x.dtype}")
            return _read_only_tensor(np.asarray(x))
        return self.upload(x)

    def gather(self, raw: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Normalised inputs of rows ``idx`` of the tensor :meth:`stage` returned, on the device.

        Parameters
        ----------
        raw : torch.Tensor, shape (N, ...)
        idx : torch.Tensor of int64, shape (B,)

        Returns
        -------
        torch.Tensor of float32, shape (B, C, H, W) or (B, F)
        """
        if raw.device == self.device:
            return self(raw[idx.to(raw.device)])
        rows = raw[idx.cpu()]
        if self.device.type == "cuda":
            rows = rows.pin_memory()
        return self(rows.to(self.device, non_blocking=True))

    def upload(self, x: np.ndarray) -> torch.Tensor:
        """Raw inputs (N, H, W, C) uint8 or (N, F) float as a device tensor (no copy of
        semantics: still raw)."""
        arr = np.ascontiguousarray(x if self.is_image else np.asarray(x, np.float32))
        if self.is_image and arr.dtype != np.uint8:
            raise ValueError(f"image inputs must be uint8 (N, H, W, C), got {arr.dtype}")
        return _read_only_tensor(arr).to(self.device)

    def __call__(self, raw: torch.Tensor) -> torch.Tensor:
        """Normalise a raw batch: returns (B, C, H, W) or (B, F) float32."""
        if self.is_image:
            x = raw.permute(0, 3, 1, 2).float().div_(255.0)
            return ((x - self.mean) / self.std).contiguous()
        return (raw.float() - self.mean) / self.std
