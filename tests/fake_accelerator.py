"""A stand-in accelerator for CPU tests: torch's ``meta`` device playing the GPU.

Under :class:`FakeAccelerator`, a learner built with ``device="meta"`` computes on tensors
that have shapes and dtypes but no data, while its host-side tensors (per-example state
with ``state_device="cpu"``, memory-mapped inputs) stay real CPU tensors. torch refuses an
operation that mixes ``meta`` and CPU tensors as it refuses one that mixes CUDA and CPU
tensors, so every place where host state meets device compute without being moved fails
here as it fails on a GPU (the bug of ``DivideMix.corrected_labels`` with its state on the
host). What the mode adds, because meta tensors hold no data:

- reads from the accelerator into the host (``.cpu()``, ``.to("cpu")``, ``.item()``,
  ``bool()``, ``float()``, ``.numpy()``, ``copy_`` into a host tensor) give placeholder ones
  of the right shape and dtype, so training loops and checkpoints run to their end (the
  values are meaningless: these tests check where tensors live, not what they hold);
- CUDA's rule that a host tensor cannot be indexed with device indices, which torch does
  not enforce for meta;
- backward hooks run under the mode too (autograd calls them from its own thread);
- boolean masks select every row (a meta tensor cannot say which are true).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.fx.experimental import _config as fx_config
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

FAKE = torch.device("meta")

_READS = {
    torch.Tensor.item, torch.Tensor.__bool__, torch.Tensor.__float__, torch.Tensor.__int__,
    torch.Tensor.__index__, torch.Tensor.tolist, torch.Tensor.numpy, torch.Tensor.__array__,
}
_INDEXING = {
    torch.Tensor.__getitem__, torch.Tensor.__setitem__, torch.Tensor.index_put_, torch.Tensor.index_select,
    torch.index_select, torch.Tensor.index_add_, torch.Tensor.index_copy_,
}


def _on_fake(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.device.type == "meta"


def _placeholder(like: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    return torch.ones(like.shape, dtype=dtype or like.dtype)


class FakeAccelerator(TorchFunctionMode):
    """Run torch code with ``meta`` as the accelerator (see the module docstring)."""

    def __enter__(self) -> FakeAccelerator:
        self._masks = fx_config.patch(meta_nonzero_assume_all_nonzero=True)
        self._masks.__enter__()
        return super().__enter__()

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        self._masks.__exit__(*exc)

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        first = args[0] if args else None
        if func in _READS and _on_fake(first):
            return func(_placeholder(first), *args[1:], **kwargs)
        if func is torch.Tensor.cpu and _on_fake(first):
            return _placeholder(first)
        if func is torch.Tensor.to and _on_fake(first):
            device, dtype, *_ = torch._C._nn._parse_to(*args[1:], **kwargs)
            if device is not None and device.type == "cpu":
                return _placeholder(first, dtype)
        if func is torch.Tensor.copy_ and not _on_fake(first) and _on_fake(args[1]):
            return first
        if func in _INDEXING and isinstance(first, torch.Tensor) and not _on_fake(first):
            flat, _ = tree_flatten((args[1:], kwargs))
            if any(_on_fake(t) and not t.is_floating_point() for t in flat):
                raise RuntimeError(
                    f"{getattr(func, '__name__', func)}: a host tensor indexed with accelerator indices "
                    "(CUDA refuses this: indices should be either on cpu or on the same device)"
                )
        if func is torch.Tensor.register_hook:
            hook = args[1]

            def in_mode(grad: torch.Tensor) -> Any:
                with FakeAccelerator():
                    return hook(grad)

            return func(first, in_mode)
        return func(*args, **kwargs)
