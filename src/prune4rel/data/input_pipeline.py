"""The input pipeline: raw inputs staged once, index batches gathered and normalised.

Raw inputs go to the device once, or stay a memory-mapped host view read one batch at a
time (see :class:`InputPipeline`). On CUDA, host batches are read ahead by a background
thread and copied on a side stream while the current batch computes
(:class:`~prune4rel.data.prefetch.Prefetcher`), so an epoch from a mapped file costs about
what one from memory does.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Generator, Sequence

import numpy as np
import torch

from prune4rel.data.dataset import is_memory_mapped
from prune4rel.data.prefetch import Prefetcher
from prune4rel.devices import VisibleGPUs, resolve_device, same_device

__all__ = ["InputPipeline", "plan_gather", "read_ahead"]

#: Batches a CUDA pipeline reads ahead of the one computing.
PREFETCH_BATCHES = 2


def plan_gather(source: torch.device, device: torch.device, gpus: VisibleGPUs | None = None) -> str:
    """How rows of inputs held on ``source`` reach ``device`` (compared as resolved devices,
    :func:`~prune4rel.devices.same_device`; ``gpus`` as there).

    Returns
    -------
    {"index", "pinned", "copy"}
        "index": the inputs are on the device already, rows are indexed there (never pinned);
        "pinned": host rows are gathered into pinned memory and copied asynchronously to a
        GPU; "copy": rows are gathered where they are and copied.
    """
    if same_device(source, device, gpus):
        return "index"
    if source.type == "cpu" and device.type == "cuda":
        return "pinned"
    return "copy"


def read_ahead(source: torch.device, device: torch.device, depth: int) -> int:
    """Batches to read ahead for inputs on ``source`` delivered to ``device``: ``depth`` when
    host rows are pinned and copied to a GPU, 0 (gather when asked) otherwise, so the CPU path
    is unchanged."""
    return depth if plan_gather(source, device) == "pinned" else 0


def host_rows(raw: torch.Tensor, idx: torch.Tensor, pin: bool) -> torch.Tensor:
    """Rows ``idx`` (host int64) of the host tensor ``raw``; gathered straight into pinned
    memory when ``pin`` (for an asynchronous copy to a GPU)."""
    if not pin:
        return raw[idx]
    out = torch.empty((idx.numel(), *raw.shape[1:]), dtype=raw.dtype, pin_memory=True)
    return torch.index_select(raw, 0, idx, out=out)


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
        Resolved here (:func:`prune4rel.devices.resolve_device`: "cuda" becomes ``cuda:N``).
    channels_last : bool
        Give image batches in NHWC memory order (``torch.channels_last``: the same values,
        the layout fast convolutions with tensor cores want) instead of contiguous NCHW.

    Attributes
    ----------
    prefetch : int
        Batches read ahead when host inputs go to a GPU (:meth:`gathered`, :meth:`uploaded`);
        0 reads each batch when it is asked for.
    """

    def __init__(
        self, mean: np.ndarray, std: np.ndarray, is_image: bool, device: torch.device | str,
        channels_last: bool = False,
    ) -> None:
        self.device = resolve_device(device)
        self.is_image = is_image
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.prefetch = PREFETCH_BATCHES
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
        plan = plan_gather(raw.device, self.device)
        if plan == "index":
            return self(raw[idx.to(raw.device)])
        rows = host_rows(raw, idx.cpu(), pin=plan == "pinned")
        return self(rows.to(self.device, non_blocking=True))

    def gathered(
        self, raw: torch.Tensor, batches: Sequence[torch.Tensor]
    ) -> Generator[torch.Tensor, None, None]:
        """:meth:`gather` of each of ``batches`` in order; host inputs going to a GPU are read
        :attr:`prefetch` batches ahead. Close the iterator (``contextlib.closing``) when
        stopping before its end."""
        ahead = read_ahead(raw.device, self.device, self.prefetch)
        if ahead == 0:
            for idx in batches:
                yield self.gather(raw, idx)
            return
        sizes = [int(b.numel()) for b in batches]
        host_idx = torch.cat(list(batches)).cpu().split(sizes) if batches else ()  # on this stream
        pin = plan_gather(raw.device, self.device) == "pinned"
        yield from self._read_ahead(lambda i: host_rows(raw, host_idx[i], pin), len(sizes), ahead)

    def uploaded(self, x: np.ndarray, batch_size: int) -> Generator[torch.Tensor, None, None]:
        """Normalised batches of ``batch_size`` rows of raw host inputs ``x``, in order, on the
        device (read ahead on a GPU)."""
        starts = range(0, x.shape[0], batch_size)
        ahead = read_ahead(torch.device("cpu"), self.device, self.prefetch)
        if ahead == 0:
            for start in starts:
                yield self(self.upload(x[start : start + batch_size]))
            return
        yield from self._read_ahead(
            lambda i: self._host(x[starts[i] : starts[i] + batch_size]), len(starts), ahead
        )

    def _read_ahead(
        self, produce: Callable[[int], torch.Tensor], count: int, ahead: int
    ) -> Generator[torch.Tensor, None, None]:
        with Prefetcher(produce, count, self.device, ahead) as staged:
            for raw in staged:
                yield self(raw)

    def _host(self, x: np.ndarray) -> torch.Tensor:
        """Raw inputs as a contiguous host tensor in the stored dtype."""
        arr = np.ascontiguousarray(x if self.is_image else np.asarray(x, np.float32))
        if self.is_image and arr.dtype != np.uint8:
            raise ValueError(f"image inputs must be uint8 (N, H, W, C), got {arr.dtype}")
        return _read_only_tensor(arr)

    def upload(self, x: np.ndarray) -> torch.Tensor:
        """Raw inputs (N, H, W, C) uint8 or (N, F) float as a device tensor (no copy of
        semantics: still raw)."""
        return self._host(x).to(self.device)

    def __call__(self, raw: torch.Tensor) -> torch.Tensor:
        """Normalise a raw batch: returns (B, C, H, W) or (B, F) float32."""
        if self.is_image:
            x = raw.permute(0, 3, 1, 2).float().div_(255.0)
            return ((x - self.mean) / self.std).contiguous(memory_format=self.memory_format)
        return (raw.float() - self.mean) / self.std
