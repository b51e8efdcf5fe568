"""Post-hoc signals from a trained ``torch.nn.Module`` and a ``DataLoader``.

One eval-mode pass: softmax probabilities of the model's output and the features of one of
its layers (read by a forward hook), placed by dataset index.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, IterableDataset, SequentialSampler
from tqdm.auto import tqdm

from prune4rel.signals import Signals
from prune4rel.warmup.batches import Batch, Unpack, as_indices, as_labels, storage_dtype, unpack_batch

__all__ = ["Outputs", "extract_outputs", "extract_signals"]


class Outputs(NamedTuple):
    """Outputs of an eval-mode pass, one row per example in dataset index order.

    Attributes
    ----------
    probs : ndarray of float32, shape (n, C)
        Softmax of the model's output.
    embeddings : ndarray, shape (n, d)
        The feature layer's output (or the last linear layer's input), flattened per row.
    labels : ndarray of int64, shape (n,), or None
        Labels the loader yielded, None when it yields none.
    """

    probs: np.ndarray
    embeddings: np.ndarray
    labels: np.ndarray | None


def _size(loader: Iterable[Any], n: int | None) -> int:
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"`n` must be a positive int, got {n!r}")
        return int(n)
    dataset = getattr(loader, "dataset", None)
    if dataset is not None and not isinstance(dataset, IterableDataset) and hasattr(dataset, "__len__"):
        return len(dataset)
    raise ValueError("`loader` has no sized dataset: pass `n`, the number of examples")


def _in_order(loader: Iterable[Any]) -> bool:
    """Whether a loader yields its dataset's rows 0, 1, 2, ... (plain iterables: assumed)."""
    if not isinstance(loader, DataLoader) or isinstance(loader.dataset, IterableDataset):
        return True
    batches_in_order = loader.batch_sampler is None or type(loader.batch_sampler) is BatchSampler
    return isinstance(loader.sampler, SequentialSampler) and batches_in_order


def _device(model: nn.Module) -> torch.device:
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _to_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, Mapping):
        return {k: _to_device(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_device(v, device) for v in value)
    return value


def _feature_hook(model: nn.Module, layer: str | None, sink: list[Any]) -> torch.utils.hooks.RemovableHandle:
    """Hook that appends the named layer's output (or the last Linear's input) to ``sink``."""
    if layer is None:
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise ValueError("`model` has no nn.Linear to read the features from: name a `layer`")
        return linears[-1].register_forward_pre_hook(lambda _m, args: sink.append(args[0]))
    modules = dict(model.named_modules())
    if layer not in modules or layer == "":
        names = [name for name in modules if name][:12]
        raise ValueError(f"`layer` {layer!r} is not a submodule of the model; some are: {names}")
    return modules[layer].register_forward_hook(lambda _m, _args, out: sink.append(out))


def extract_outputs(
    model: nn.Module,
    loader: Iterable[Any],
    *,
    layer: str | None = None,
    n: int | None = None,
    unpack: Unpack | None = None,
    dtype: str = "float32",
    progress: bool = True,
) -> Outputs:
    """Probabilities and features of every example, from one eval-mode pass.

    The model runs in eval mode under ``torch.no_grad`` on the device of its parameters
    (inputs are moved there); each submodule's train/eval mode is restored afterwards. It is
    called as ``model(inputs)`` and must return (B, C) logits.

    Parameters
    ----------
    model : nn.Module
    loader : iterable of batches
        Usually a ``DataLoader`` over un-augmented inputs. When its batches carry dataset
        indices, rows are placed by index (any order, e.g. shuffled); otherwise the loader
        must yield the rows in order 0, 1, 2, ... (a DataLoader with ``shuffle=False`` and
        the default sampler; a shuffled one is refused). Each example must come exactly once.
    layer : str, optional
        Name of the feature layer in ``model.named_modules()``: its output, flattened per
        row, is the embedding. Default: the input of the model's last ``nn.Linear``.
    n : int, optional
        Number of examples; default ``len(loader.dataset)``.
    unpack : callable, optional
        ``batch -> (inputs, labels or None, indices or None)``; default
        :func:`~prune4rel.warmup.batches.unpack_batch` (tuples ``(x,)``, ``(x, y)``,
        ``(x, y, index)``).
    dtype : {"float32", "float16"}
        Storage type of the embeddings.
    progress : bool
        Show a progress bar.

    Returns
    -------
    Outputs
        ``probs`` (n, C) float32, ``embeddings`` (n, d), ``labels`` (n,) or None.

    Raises
    ------
    ValueError
        For an unknown layer, a shuffled loader without indices, an example yielded twice
        or never, labels in some batches only, or a model output that is not (B, C).
    """
    rows = _size(loader, n)
    store = storage_dtype(dtype)
    read = unpack or unpack_batch
    ordered = _in_order(loader)
    device = _device(model)
    captured: list[Any] = []
    handle = _feature_hook(model, layer, captured)
    modes = {m: m.training for m in model.modules()}
    probs = embeddings = labels = None
    seen = np.zeros(rows, bool)
    position = 0
    model.eval()
    try:
        with torch.no_grad():
            for raw in tqdm(loader, desc="extract", disable=not progress, leave=False):
                batch = Batch(*read(raw))
                captured.clear()
                logits = model(_to_device(batch.inputs, device))
                if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
                    raise ValueError("`model` must return a (B, C) logits tensor; wrap it in an nn.Module")
                size = int(logits.shape[0])
                if batch.indices is not None:
                    idx = as_indices(batch.indices, rows)
                elif ordered:
                    idx = np.arange(position, position + size)
                    if idx.size and idx[-1] >= rows:
                        raise ValueError(f"`loader` yields more than n = {rows} examples")
                else:
                    raise ValueError(
                        "`loader` yields no indices and does not iterate in order (shuffle=True or a "
                        "custom sampler): yield (inputs, labels, index) batches or use shuffle=False"
                    )
                if idx.size != size:
                    raise ValueError(f"the batch has {idx.size} indices for {size} rows of logits")
                if seen[idx].any():
                    raise ValueError(f"example {idx[seen[idx]][0]} yielded twice: each must come once")
                if len(captured) != 1 or not isinstance(captured[0], torch.Tensor):
                    raise ValueError(
                        f"the feature layer gave {len(captured)} outputs in one forward pass (one tensor "
                        "needed): name another `layer`"
                    )
                feats = captured[0].detach().reshape(size, -1).float().cpu().numpy()
                if probs is None:
                    probs = np.zeros((rows, logits.shape[1]), np.float32)
                    embeddings = np.zeros((rows, feats.shape[1]), store)
                    labels = None if batch.labels is None else np.zeros(rows, np.int64)
                assert embeddings is not None
                if (labels is None) != (batch.labels is None):
                    raise ValueError("`loader` yields labels in some batches only")
                probs[idx] = torch.softmax(logits.float(), dim=1).cpu().numpy()
                embeddings[idx] = feats
                if labels is not None:
                    labels[idx] = as_labels(batch.labels, size)
                seen[idx] = True
                position += size
    finally:
        handle.remove()
        for module, mode in modes.items():
            module.training = mode
    if probs is None or embeddings is None or not seen.all():
        missing = np.flatnonzero(~seen)
        raise ValueError(
            f"{missing.size} of {rows} examples never came from `loader` (first: {missing[:5].tolist()})"
        )
    return Outputs(probs, embeddings, labels)


def extract_signals(
    model: nn.Module,
    loader: Iterable[Any],
    *,
    labels: Any = None,
    clean_labels: Any = None,
    meta: Mapping[str, Any] | None = None,
    **options: Any,
) -> Signals:
    """:class:`Signals` (without histories) from one eval-mode pass (:func:`extract_outputs`).

    Parameters
    ----------
    model, loader
        As for :func:`extract_outputs`.
    labels : array-like of int, shape (n,), optional
        Given labels; default: those the loader yields. When both exist they must agree.
    clean_labels : array-like of int, shape (n,), optional
        True labels, for evaluation only.
    meta : mapping, optional
        Extra ``meta`` entries.
    **options
        ``layer``, ``n``, ``unpack``, ``dtype``, ``progress`` of :func:`extract_outputs`.

    Raises
    ------
    ValueError
        As :func:`extract_outputs`, and when no labels are known or the two disagree.
    """
    out = extract_outputs(model, loader, **options)
    given = out.labels
    if labels is not None:
        given = as_labels(labels, out.probs.shape[0])
        if out.labels is not None and not np.array_equal(given, out.labels):
            raise ValueError("`labels` differ from the labels the loader yields")
    if given is None:
        raise ValueError("the loader yields no labels: pass `labels`")
    return Signals(
        labels=given,
        probs=out.probs,
        embeddings=out.embeddings,
        clean_labels=clean_labels,
        meta={"producer": "prune4rel.warmup.extract", "model": type(model).__name__, **dict(meta or {})},
    )
