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
    """The RNG state of ``device`` when it is a CUDA device, as a list of one state (for
    checkpoints); [] otherwise. Only the training device's: the other GPUs of the machine
    are not the learner's, and a machine resuming the checkpoint may have fewer."""
    return [torch.cuda.get_rng_state(device)] if device.type == "cuda" else []


def set_device_rng_state(device: torch.device, states: list[torch.Tensor]) -> None:
    """Restore :func:`device_rng_state`'s ``states`` on ``device`` when there are some and
    ``device`` is CUDA (the state may come from another GPU index). A list of one state per
    GPU (what earlier versions saved) gives the entry of ``device``'s index.

    Raises
    ------
    ValueError
        For such a list without an entry for ``device``.
    """
    if not states or device.type != "cuda":
        return
    index = 0 if len(states) == 1 else device.index
    if index is None or index >= len(states):
        raise ValueError(f"the state holds CUDA RNG states of {len(states)} GPUs, none for {device}")
    torch.cuda.set_rng_state(states[index].cpu(), device)


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
