"""Where and how a learner computes: its device, where its per-example state lives, mixed
precision, the device's RNG state and CPU threads. Every device decision of the learners is
made here: the device is resolved once, when the learner is built or its ``device`` set
(``"cuda"`` becomes ``cuda:N``, see :mod:`prune4rel.devices`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import torch

__all__ = ["autocast", "cpu_threads", "device_rng_state", "set_device_rng_state", "state_device"]


def state_device(option: str | None, device: torch.device) -> torch.device:
    """Where per-example state lives: the host for ``"cpu"``, else the training ``device``."""
    return torch.device("cpu") if option == "cpu" else device


def autocast(device: torch.device, amp: bool) -> AbstractContextManager[Any]:
    """bf16 autocast on ``device`` (CUDA or CPU) when ``amp``; nothing otherwise."""
    if amp and device.type in ("cuda", "cpu"):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


def device_rng_state(device: torch.device) -> list[torch.Tensor]:
    """The RNG states of the CUDA devices when ``device`` is one (for checkpoints); [] otherwise."""
    return torch.cuda.get_rng_state_all() if device.type == "cuda" else []


def set_device_rng_state(device: torch.device, states: list[torch.Tensor]) -> None:
    """Restore :func:`device_rng_state`'s ``states`` when there are some and ``device`` is CUDA."""
    if states and device.type == "cuda":
        torch.cuda.set_rng_state_all(states)


@contextmanager
def cpu_threads(num_threads: int | None) -> Iterator[None]:
    """Let torch use ``num_threads`` CPU threads inside the block (None: leave it alone)."""
    if num_threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
