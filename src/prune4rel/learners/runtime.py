"""Where and how a learner computes: its device, where its per-example state lives, mixed
precision, the device's RNG state and CPU threads. Every device decision of the learners is
made here: the device is resolved once, when the learner is built or its ``device`` set
(``"cuda"`` becomes ``cuda:N``, see :mod:`prune4rel.devices`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import torch

from prune4rel.devices import DeviceError, resolve_device
from prune4rel.validation import ParameterError, Rule

__all__ = [
    "DeviceRule", "autocast", "cpu_threads", "device_rng_state", "set_device_rng_state", "state_device",
]


class DeviceRule(Rule):
    """A device that exists here: a :class:`torch.device` or a string (``"cpu"``, ``"auto"``,
    ``"cuda"``, ``"cuda:1"``), resolved once (:func:`prune4rel.devices.resolve_device`): the
    learner keeps the concrete ``cuda:N``."""

    def accepts(self, value: Any) -> bool:
        if isinstance(value, torch.device) or value == "auto":
            return True
        if not isinstance(value, str):
            return False
        try:
            torch.device(value)
        except RuntimeError:
            return False
        return True

    def describe(self) -> str:
        return "a torch device or a device string: 'cpu', 'auto', 'cuda' or 'cuda:N'"

    def convert(self, value: Any) -> torch.device:
        return resolve_device(value)

    def check(self, name: str, value: Any) -> torch.device:
        """``value`` resolved, or :class:`ParameterError` naming ``name`` (also for a GPU
        that is not visible)."""
        if not self.accepts(value):
            raise ParameterError(name, value, self.describe())
        try:
            return resolve_device(value, name)
        except DeviceError as exc:
            raise ParameterError(name, value, exc.allowed) from None


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
