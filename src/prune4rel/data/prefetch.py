"""Reading batches ahead: a background thread prepares the next host batches and copies them to
the device while the current batch computes.

:class:`Prefetcher` calls ``produce(i)`` for ``i = 0, 1, ...`` on one background thread, at
most ``ahead`` batches before the consumer, and hands the results over in order. On CUDA each
host tensor is pinned (unless ``produce`` returned pinned memory) and copied with
``non_blocking=True`` on a side stream; the consumer's current stream waits for that copy's
event before the tensor is used, and the tensor is recorded on the consumer's stream so that
the caching allocator does not reuse its memory too early. On the CPU the thread only
produces (no copy). An exception raised by ``produce`` is raised to the consumer at that
batch's position; closing the prefetcher (``with`` block, or :meth:`Prefetcher.close`) stops
the thread, also when the consumer stops early.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import torch

__all__ = ["Prefetcher"]


@dataclass
class _Failure:
    """What the worker hands over instead of a batch when ``produce`` raised."""

    error: BaseException


class Prefetcher:
    """Batches ``produce(0)``, ..., ``produce(count - 1)`` on ``device``, prepared ahead.

    Parameters
    ----------
    produce : callable
        ``produce(i)`` returns batch ``i`` as a host (CPU) tensor; called on the background
        thread, in order, each ``i`` once.
    count : int
        Number of batches.
    device : torch.device
        Where the batches are delivered (a resolved device: CUDA copies run on a side stream
        of this device).
    ahead : int
        Batches prepared before the consumer asks for them (>= 1).

    Examples
    --------
    >>> with Prefetcher(lambda i: torch.full((2,), i), 3, torch.device("cpu"), 2) as batches:
    ...     [int(b[0]) for b in batches]
    [0, 1, 2]
    """

    def __init__(
        self, produce: Callable[[int], torch.Tensor], count: int, device: torch.device, ahead: int = 2,
    ) -> None:
        if ahead < 1:
            raise ValueError(f"`ahead` must be an integer >= 1, got {ahead!r}")
        if count < 0:
            raise ValueError(f"`count` must be >= 0, got {count!r}")
        self.count, self.device = count, device
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._stream = torch.cuda.Stream(device) if device.type == "cuda" else None
        self._thread = threading.Thread(target=self._work, args=(produce,), name="prune4rel-prefetch",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ worker side
    def _copy_context(self) -> AbstractContextManager[Any]:
        return torch.cuda.stream(self._stream) if self._stream is not None else nullcontext()

    def _work(self, produce: Callable[[int], torch.Tensor]) -> None:
        try:
            with self._copy_context():
                for i in range(self.count):
                    if self._stop.is_set() or not self._put(self._stage(produce(i))):
                        return
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(_Failure(exc))

    def _stage(self, host: torch.Tensor) -> tuple[torch.Tensor, torch.cuda.Event | None]:
        """``host`` on the device, and the event of its copy (None off CUDA)."""
        if self._stream is None:
            return host.to(self.device), None
        pinned = host if host.is_pinned() else host.pin_memory()
        out = pinned.to(self.device, non_blocking=True)  # on the side stream (see _work)
        event = torch.cuda.Event()
        event.record(self._stream)
        return out, event

    def _put(self, item: Any) -> bool:
        """Hand ``item`` over; False when the prefetcher was closed meanwhile."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    # ------------------------------------------------------------------ consumer side
    def __iter__(self) -> Iterator[torch.Tensor]:
        for _ in range(self.count):
            if self._stop.is_set():
                raise RuntimeError("this Prefetcher is closed")
            item = self._queue.get()
            if isinstance(item, _Failure):
                self.close()
                raise item.error
            tensor, event = item
            if event is not None:
                stream = torch.cuda.current_stream(self.device)
                stream.wait_event(event)
                tensor.record_stream(stream)
            yield tensor

    def close(self) -> None:
        """Stop the background thread (batches not yet taken are dropped)."""
        self._stop.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join()

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None,
    ) -> None:
        self.close()
