"""The learners' optimiser and per-step learning-rate schedules, as pure functions."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

__all__ = ["SCHEDULES", "Optimizers", "lr_factor", "make_sgd", "set_lr"]

#: the ``schedule`` options
SCHEDULES = ("constant", "cosine", "triangle")

#: optimizers of one ``fit`` call, each with whether it follows the learning-rate schedule
Optimizers = list[tuple[torch.optim.Optimizer, bool]]


def lr_factor(schedule: str, step: float, total: int, warmup_fraction: float, min_lr_ratio: float) -> float:
    """Multiplier of the peak learning rate at ``step`` of ``total`` steps.

    Parameters
    ----------
    schedule : {"constant", "cosine", "triangle"}
        "constant": always 1. "cosine": cosine decay from 1 to ``min_lr_ratio``.
        "triangle": linear warm-up from 0 over the first ``warmup_fraction`` of the steps,
        then linear decay to ``min_lr_ratio`` at ``total``.
    step : float
        Steps taken so far (fractional for learners that spread their steps).
    total : int
        Steps of the whole ``fit`` call.
    warmup_fraction : float
        In [0, 1); only "triangle" warms up.
    min_lr_ratio : float
        The final multiplier of "cosine" and "triangle".

    Returns
    -------
    float
    """
    t = step / max(1, total)
    low = min_lr_ratio
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return low + (1 - low) * 0.5 * (1 + math.cos(math.pi * t))
    w = warmup_fraction
    if w > 0 and t < w:
        return t / w
    return low + (1 - low) * max(0.0, (1 - t) / (1 - w))


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Set every parameter group's learning rate to ``factor`` times its initial one."""
    for group in optimizer.param_groups:
        group["lr"] = group.setdefault("initial_lr", group["lr"]) * factor


def make_sgd(
    params: Iterable[torch.nn.Parameter], lr: float, momentum: float, weight_decay: float, nesterov: bool
) -> torch.optim.SGD:
    """SGD over the trainable ``params``; Nesterov only where there is momentum."""
    return torch.optim.SGD(
        [p for p in params if p.requires_grad], lr=lr, momentum=momentum, weight_decay=weight_decay,
        nesterov=nesterov and momentum > 0,
    )
