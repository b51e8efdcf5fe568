"""Per-example state: what a learner declares it keeps for every example, and its storage.

A learner lists its per-example tensors in ``per_example_state`` (a tuple of
:class:`StateField`): their attribute names, shapes in terms of the number of examples ``n``
and of classes ``C``, and kinds. The base class allocates them when it first binds a
dataset; checkpoints save exactly these tensors and data-parallel training keeps exactly
these rows identical on every rank. :class:`StateStorage` holds the storage dtype and
device (``state_dtype`` / ``state_device``) and moves batches of rows between the storage
and the training device: each batch gathers its rows as float32, does the math there and
stores the result back rounded to the storage dtype. "float16" halves the memory of
"float32"; "bfloat16" does too and keeps float32's exponent range, with 8 bits of precision
instead of float16's 11. Boolean flags and labels keep their own dtypes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["STATE_DTYPES", "StateField", "StateStorage", "bytes_per_example"]

#: ``state_dtype`` option -> storage dtype of the floating per-example state
STATE_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
}
_KINDS = ("float", "bool", "int64")


@dataclass(frozen=True)
class StateField:
    """One per-example tensor of a learner.

    Attributes
    ----------
    name : str
        The learner attribute that holds it.
    shape : tuple of int or str
        Its shape; ``"n"`` (the number of dataset examples, exactly once: the axis indexed
        by dataset index) and ``"classes"`` stand for the bound dataset's sizes.
    kind : {"float", "bool", "int64"}
        "float" tensors are stored in the learner's ``state_dtype``; flags and labels keep
        their own dtype.
    fill : float
        Initial value of every entry.
    """

    name: str
    shape: tuple[int | str, ...]
    kind: str = "float"
    fill: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"`kind` must be one of {_KINDS}, got {self.kind!r}")
        if self.shape.count("n") != 1 or any(
            not isinstance(d, int) and d not in ("n", "classes") for d in self.shape
        ):
            raise ValueError(f"`shape` must hold 'n' once, and ints or 'classes', got {self.shape!r}")

    @property
    def axis(self) -> int:
        """The axis indexed by dataset index."""
        return self.shape.index("n")

    def size(self, n: int, num_classes: int) -> tuple[int, ...]:
        """The concrete shape for ``n`` examples and ``num_classes`` classes."""
        sizes = {"n": n, "classes": num_classes}
        return tuple(sizes[d] if isinstance(d, str) else d for d in self.shape)


def bytes_per_example(fields: Sequence[StateField], num_classes: int, state_dtype: str = "float32") -> int:
    """Bytes of per-example state per dataset example, for ``num_classes`` classes.

    Parameters
    ----------
    fields : sequence of StateField
        A learner's ``per_example_state``.
    num_classes : int
    state_dtype : {"float32", "float16", "bfloat16"}

    Returns
    -------
    int
    """
    itemsize = {"float": STATE_DTYPES[state_dtype].itemsize, "bool": 1, "int64": 8}
    total = 0
    for field in fields:
        per_row = 1
        for d in field.size(1, num_classes):
            per_row *= d
        total += per_row * itemsize[field.kind]
    return total


class StateStorage:
    """Where and in which dtype per-example state lives, and how its rows travel.

    Each batch gathers its rows to the training ``device`` as float32, does the math there
    and stores the result back rounded to the storage dtype.

    Parameters
    ----------
    dtype : torch.dtype
        Storage dtype of "float" fields.
    device : torch.device
        Where the state lives (the training device, or the host).
    compute_device : torch.device
        Where rows are gathered to.
    """

    def __init__(self, dtype: torch.dtype, device: torch.device, compute_device: torch.device) -> None:
        self.dtype, self.device, self.compute_device = dtype, device, compute_device

    def allocate(self, field: StateField, n: int, num_classes: int) -> torch.Tensor:
        """A new tensor for ``field``, filled with its ``fill``."""
        dtype = {"float": self.dtype, "bool": torch.bool, "int64": torch.int64}[field.kind]
        return torch.full(field.size(n, num_classes), field.fill, dtype=dtype, device=self.device)

    def gather(self, state: torch.Tensor, idx: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        """Rows ``idx`` (dataset indices, shape (B,)) of ``state`` (N, ...), as a new
        float32 tensor (B, ...) on the compute device, divided by ``scale``."""
        rows = state[idx.to(state.device)].to(self.compute_device, torch.float32)
        return rows / scale if scale != 1.0 else rows

    @staticmethod
    def store(state: torch.Tensor, idx: torch.Tensor, values: torch.Tensor, scale: float = 1.0) -> None:
        """Store ``values`` (B, ...) times ``scale`` into rows ``idx`` (B,) of ``state``
        (N, ...), rounded to its dtype; a value beyond a 16-bit dtype's range saturates at
        its largest finite value instead of becoming infinite."""
        if scale != 1.0:
            values = values * scale
        if values.dtype != state.dtype:
            big = torch.finfo(state.dtype).max
            values = values.clamp(-big, big).to(state.dtype)
        state[idx.to(state.device)] = values.to(state.device)
