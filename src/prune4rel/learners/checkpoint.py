"""Checkpoint I/O of a learner: the state that continues a ``fit`` exactly where it stood.

:func:`pack_state` builds what :meth:`Learner.state_dict` returns and :func:`restore_state`
applies it at the start of the resumed ``fit``. The state holds only tensors, numbers,
strings, lists and dicts, so ``torch.load(path, weights_only=True)`` reads it back.

Format version 2 fingerprints the ``fit`` call's indices with
:func:`prune4rel.metrics.index_digest`; a version-1 state is refused (its fit cannot be
matched to the resumed one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from prune4rel.learners.optim import Optimizers
from prune4rel.learners.runtime import device_rng_state, set_device_rng_state
from prune4rel.metrics import index_digest

__all__ = ["FORMAT", "VERSION", "LearnerStateError", "Restored", "StateParts", "check_format", "fit_progress",
           "pack_state", "restore_state"]

FORMAT = "prune4rel.learner_state"
VERSION = 2


class LearnerStateError(ValueError):
    """A :meth:`Learner.state_dict` that does not fit the learner or the ``fit`` call
    resuming from it; raised at the start of that ``fit``, before any epoch runs."""


def fit_progress(epoch: int, epochs: int, indices: np.ndarray) -> dict[str, Any]:
    """The ``fit`` entry of a state: the epoch reached, the epochs of the call and the
    digest of its indices (their order sets the shuffles)."""
    return {"epoch": int(epoch), "epochs": int(epochs), "indices": index_digest(indices)}


@dataclass(frozen=True)
class StateParts:
    """The live parts of a learner that a checkpoint saves and restores in place.

    Attributes
    ----------
    networks : mapping of str to nn.Module
        By attribute name.
    per_example : mapping of str to Tensor
        The declared per-example state, by attribute name.
    optimizers : list of (Optimizer, bool)
        Of the current (or last) ``fit`` call.
    generator : torch.Generator
        The learner's shuffling and augmentation stream.
    numpy_rngs : mapping of str to numpy.random.Generator
        Further random streams, by attribute name.
    device : torch.device
        The training device (CUDA RNG states are saved on CUDA).
    """

    networks: Mapping[str, nn.Module]
    per_example: Mapping[str, torch.Tensor]
    optimizers: Optimizers
    generator: torch.Generator
    numpy_rngs: Mapping[str, np.random.Generator]
    device: torch.device


def pack_state(
    parts: StateParts, *, learner: str, epochs_done: int, history: list[dict[str, Any]], fit: dict[str, Any],
) -> dict[str, Any]:
    """A learner's state; values are references to live tensors (save or copy them).

    Parameters
    ----------
    parts : StateParts
    learner : str
        The learner's class name.
    epochs_done : int
    history : list of dict
    fit : dict
        From :func:`fit_progress`.

    Returns
    -------
    dict
        ``format``, ``version``, ``learner``; ``modules``: each network's ``state_dict()``;
        ``tensors``: the per-example state, dataset indexed; ``optimizers``: their
        ``state_dict()``; ``generator``, ``numpy_rngs``, ``torch_rng`` and ``cuda_rng``:
        RNG states (``cuda_rng``: of the training GPU, [] off CUDA); ``epochs_done``,
        ``history`` and ``fit``.
    """
    return {
        "format": FORMAT,
        "version": VERSION,
        "learner": learner,
        "modules": {name: net.state_dict() for name, net in parts.networks.items()},
        "tensors": {name: value.detach() for name, value in parts.per_example.items()},
        "optimizers": [opt.state_dict() for opt, _ in parts.optimizers],
        "generator": parts.generator.get_state(),
        "numpy_rngs": {name: rng.bit_generator.state for name, rng in parts.numpy_rngs.items()},
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": device_rng_state(parts.device),
        "epochs_done": int(epochs_done),
        "history": [dict(h) for h in history],
        "fit": dict(fit),
    }


def check_format(state: Any, learner: str) -> None:
    """Raise ValueError unless ``state`` is a current-format state of the class ``learner``."""
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError("`state` is not a prune4rel learner state (from Learner.state_dict())")
    if state.get("version") != VERSION:
        raise ValueError(f"`state` has format version {state.get('version')}, this learner reads version "
                         f"{VERSION}; train afresh")
    if state.get("learner") != learner:
        raise ValueError(f"`state` was written by {state.get('learner')}, not {learner}")


@dataclass(frozen=True)
class Restored:
    """What :func:`restore_state` gives back to the learner (the rest is restored in place).

    Attributes
    ----------
    epoch : int
        The epoch of the resumed ``fit`` call to continue from.
    epochs_done : int
        Epochs over the learner's life.
    history : list of dict
    """

    epoch: int
    epochs_done: int
    history: list[dict[str, Any]]


def restore_state(state: dict[str, Any], parts: StateParts, *, indices: np.ndarray, epochs: int) -> Restored:
    """Apply ``state`` in place to ``parts`` (networks, tensors, optimizers and RNGs).

    The resumed call's ``indices`` and ``epochs`` must be those of the saved call.
    Restoring also sets torch's global RNG state.

    Raises
    ------
    LearnerStateError
        When the state does not fit (other indices or epochs, shapes, dtypes, networks,
        optimizers) or misses an entry; the targets may then be partly overwritten.
    """
    try:
        return _restore(state, parts, indices, epochs)
    except (AttributeError, KeyError, TypeError, RuntimeError, ValueError) as exc:
        raise LearnerStateError(f"the learner state does not fit: {exc}") from exc


def _restore(state: dict[str, Any], parts: StateParts, indices: np.ndarray, epochs: int) -> Restored:
    networks, per_example, optimizers = parts.networks, parts.per_example, parts.optimizers
    fit = state.get("fit", {})
    if fit.get("epochs") != epochs or fit.get("indices") != index_digest(indices):
        raise ValueError(
            f"the learner state was saved in a fit over {fit.get('epochs')} epochs on other "
            f"indices or epochs than this fit ({epochs} epochs); resume with the same "
            "dataset, indices and epochs"
        )
    if set(state["modules"]) != set(networks) or set(state["tensors"]) != set(per_example):
        raise ValueError(f"the state holds networks {sorted(state['modules'])} and per-example tensors "
                         f"{sorted(state['tensors'])}, the learner {sorted(networks)} and "
                         f"{sorted(per_example)}")
    for name, sd in state["modules"].items():
        networks[name].load_state_dict(sd)
    with torch.no_grad():
        for name, value in state["tensors"].items():
            current = per_example[name]
            if current.shape != value.shape or current.dtype != value.dtype:
                raise ValueError(f"state tensor `{name}` is {value.dtype} {tuple(value.shape)}, "
                                 f"expected {current.dtype} {tuple(current.shape)}")
            current.copy_(value)
    if len(state["optimizers"]) != len(optimizers):
        raise ValueError("the learner state holds a different number of optimizers")
    for (opt, _), sd in zip(optimizers, state["optimizers"]):
        opt.load_state_dict(sd)
    # RNG states are host tensors (a torch.load with map_location="cuda" moves them to the GPU)
    parts.generator.set_state(state["generator"].cpu())
    for name, rng_state in state["numpy_rngs"].items():
        parts.numpy_rngs[name].bit_generator.state = rng_state
    torch.set_rng_state(state["torch_rng"].cpu())
    set_device_rng_state(parts.device, state["cuda_rng"])
    return Restored(int(fit["epoch"]), int(state["epochs_done"]), [dict(h) for h in state["history"]])
