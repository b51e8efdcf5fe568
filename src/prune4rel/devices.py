"""Resolving a device once, and comparing resolved devices.

A device spec (``"cpu"``, ``"auto"``, ``"cuda"``, ``"cuda:1"`` or a :class:`torch.device`) is
resolved where a learner, pipeline or selector is built: ``"auto"`` becomes the current GPU or
the CPU, a bare ``"cuda"`` the concrete ``cuda:N`` of the current GPU, and a GPU that is not
visible is a ``ValueError`` naming the parameter. After that, code compares resolved devices
only (:func:`same_device`): ``torch.device("cuda") == torch.device("cuda:0")`` is False, which
once made every CUDA training run index and pin a tensor already on the GPU.

The decision is the pure function :func:`decide_device` of the spec and the visible GPUs
(:class:`VisibleGPUs`), so CPU tests cover every case with ``torch.device`` objects;
:func:`resolve_device` asks torch what is visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from prune4rel.validation import ParameterError, Rule

__all__ = [
    "DeviceError",
    "DeviceRule",
    "VisibleGPUs",
    "decide_device",
    "resolve_device",
    "same_device",
    "visible_gpus",
]

DeviceSpec = str | torch.device


class DeviceError(ValueError):
    """A device that cannot be used here.

    Attributes
    ----------
    name : str
        The parameter that asked for it (e.g. ``device``).
    spec : str or torch.device
        What was asked for.
    allowed : str
        What this machine allows, in words.
    """

    def __init__(self, name: str, spec: DeviceSpec, allowed: str) -> None:
        super().__init__(f"`{name}` must be {allowed}, got {str(spec)!r}")
        self.name, self.spec, self.allowed = name, spec, allowed


@dataclass(frozen=True)
class VisibleGPUs:
    """The CUDA devices torch sees: how many, and the index of the current one."""

    count: int
    current: int = 0


def visible_gpus() -> VisibleGPUs:
    """What torch sees on this machine (no GPU: ``VisibleGPUs(0)``)."""
    if not torch.cuda.is_available():
        return VisibleGPUs(0)
    return VisibleGPUs(torch.cuda.device_count(), torch.cuda.current_device())


def _allowed(gpus: VisibleGPUs) -> str:
    if gpus.count == 0:
        return (f"'cpu' or 'auto' (no CUDA device here: torch {torch.__version__} sees no CUDA GPU; "
                f"CUDA build: {torch.version.cuda})")
    if gpus.count == 1:
        return "'cpu', 'auto', 'cuda' or 'cuda:0' (1 CUDA device visible)"
    return f"'cpu', 'auto', 'cuda' or 'cuda:0' to 'cuda:{gpus.count - 1}' ({gpus.count} CUDA devices visible)"


def _parse(spec: DeviceSpec, name: str, gpus: VisibleGPUs) -> torch.device:
    if isinstance(spec, torch.device):
        return spec
    if not isinstance(spec, str):
        raise DeviceError(name, repr(spec), _allowed(gpus))
    try:
        return torch.device(spec)
    except RuntimeError:
        raise DeviceError(name, spec, _allowed(gpus)) from None


def decide_device(spec: DeviceSpec, gpus: VisibleGPUs, name: str = "device") -> torch.device:
    """The concrete device ``spec`` means when ``gpus`` are visible (pure).

    Parameters
    ----------
    spec : str or torch.device
        ``"auto"``: the current GPU when there is one, else the CPU. ``"cuda"``: the current
        GPU. ``"cuda:N"``: GPU ``N``. Any other device (``"cpu"``, ``"meta"``) is returned
        as it is.
    gpus : VisibleGPUs
    name : str
        The parameter named in errors.

    Returns
    -------
    torch.device
        With an index for CUDA (``cuda:N``).

    Raises
    ------
    DeviceError
        (a ValueError) naming ``name``: a CUDA device when none is visible, a GPU index that
        does not exist, or a string that is no device.
    """
    if isinstance(spec, str) and spec == "auto":
        return torch.device("cuda", gpus.current) if gpus.count > 0 else torch.device("cpu")
    dev = _parse(spec, name, gpus)
    if dev.type != "cuda":
        return dev
    index = gpus.current if dev.index is None else dev.index
    if gpus.count == 0 or index >= gpus.count:
        raise DeviceError(name, spec, _allowed(gpus))
    return torch.device("cuda", index)


def _needs_gpus(spec: DeviceSpec) -> bool:
    """Whether resolving ``spec`` depends on the visible GPUs (a CPU spec never touches CUDA)."""
    if isinstance(spec, torch.device):
        return spec.type == "cuda"
    try:
        return spec == "auto" or torch.device(spec).type == "cuda"
    except (RuntimeError, TypeError):
        return True  # not a device: the error lists what is visible


def resolve_device(spec: DeviceSpec, name: str = "device") -> torch.device:
    """:func:`decide_device` for the GPUs torch sees here."""
    return decide_device(spec, visible_gpus() if _needs_gpus(spec) else VisibleGPUs(0), name)


def _concrete(device: DeviceSpec, gpus: VisibleGPUs | None) -> torch.device:
    dev = torch.device(device) if isinstance(device, str) else device
    if dev.type == "cuda" and dev.index is None:
        current = (gpus or visible_gpus()).current
        return torch.device("cuda", current)
    return dev


def same_device(a: DeviceSpec, b: DeviceSpec, gpus: VisibleGPUs | None = None) -> bool:
    """Whether ``a`` and ``b`` are the same device; a bare ``"cuda"`` counts as the current
    GPU (``gpus.current``; asked from torch when ``gpus`` is None).

    Examples
    --------
    >>> same_device(torch.device("cuda"), torch.device("cuda:0"), VisibleGPUs(1))
    True
    >>> same_device("cpu", "cuda:0", VisibleGPUs(1))
    False
    """
    return _concrete(a, gpus) == _concrete(b, gpus)


class DeviceRule(Rule):
    """A device parameter: a device that exists here, resolved once (:func:`resolve_device`),
    so that the object keeps the concrete ``cuda:N`` and equal devices give equal settings.

    Parameters
    ----------
    as_string : bool
        True: a string naming the CPU or a CUDA device, kept as the resolved string
        (``"cuda:0"``; a selector's parameter, recorded in its settings). False: any
        :class:`torch.device` or device string, kept as a :class:`torch.device` (a learner's).
    """

    def __init__(self, as_string: bool = False) -> None:
        self.as_string = as_string

    def describe(self) -> str:
        devices = "'cpu', 'auto', 'cuda' or 'cuda:N'"
        return devices if self.as_string else f"a torch device or a device string: {devices}"

    def _resolve(self, name: str, value: Any) -> torch.device:
        if not (isinstance(value, str) or (isinstance(value, torch.device) and not self.as_string)):
            raise ParameterError(name, value, self.describe())
        if isinstance(value, str) and value != "auto":
            try:
                torch.device(value)
            except RuntimeError:
                raise ParameterError(name, value, self.describe()) from None
        try:
            dev = resolve_device(value, name)
        except DeviceError as exc:
            raise ParameterError(name, value, exc.allowed) from None
        if self.as_string and dev.type not in ("cpu", "cuda"):
            raise ParameterError(name, value, self.describe())
        return dev

    def accepts(self, value: Any) -> bool:
        try:
            self._resolve("device", value)
        except ParameterError:
            return False
        return True

    def convert(self, value: Any) -> torch.device | str:
        return self.check("device", value)

    def check(self, name: str, value: Any) -> Any:
        """``value`` resolved, or :class:`~prune4rel.validation.ParameterError` naming ``name``
        (also for a GPU that is not visible: the message says which are)."""
        dev = self._resolve(name, value)
        return str(dev) if self.as_string else dev
