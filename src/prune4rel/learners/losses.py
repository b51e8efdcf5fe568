"""Loss terms shared by the learners: cross-entropy with label smoothing, and the penalties
that keep a network from over-confident or few-class predictions."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["confidence_penalty", "cross_entropy", "uniform_prior_penalty"]


def cross_entropy(logits: torch.Tensor, y: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """Mean cross-entropy with optional label smoothing (float32 even under autocast).

    With smoothing ``s`` over ``C`` classes the target of label ``y`` is ``1 - s + s / C``
    for class ``y`` and ``s / C`` for every other class.
    """
    return F.cross_entropy(logits.float(), y, label_smoothing=smoothing)


def uniform_prior_penalty(logits: torch.Tensor) -> torch.Tensor:
    """``KL(uniform || mean_batch softmax(logits))``: keeps a network from favouring few classes.

    Parameters
    ----------
    logits : Tensor, shape (B, C)

    Returns
    -------
    Tensor, scalar
    """
    mean_p = torch.softmax(logits.float(), dim=1).mean(dim=0).clamp_min(1e-12)
    c = logits.shape[1]
    return -(mean_p.log().mean()) - math.log(c)


def confidence_penalty(logits: torch.Tensor) -> torch.Tensor:
    """Mean negative entropy ``sum_c p_c log p_c`` of the predictions (B, C): added to a
    loss it penalises confident predictions (DivideMix's warm-up under asymmetric noise)."""
    p = torch.softmax(logits, dim=1)
    return (p * p.clamp_min(1e-12).log()).sum(dim=1).mean()
