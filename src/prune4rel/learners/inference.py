"""Eval-mode outputs of a learner's networks: embeddings and logits with test-time
augmentation, and batched softmax predictions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

from prune4rel.learners.runtime import autocast

__all__ = ["embed_and_logits", "predict_batches"]


def embed_and_logits(net: Any, x: torch.Tensor, tta: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(embed(x) (B, d), logits (B, C))`` of an embedding network, in one pass when it has a
    ``head``; with ``tta``, images' logits are the mean of those of ``x`` and of its
    horizontal flip (embeddings are of ``x`` alone).
    """
    z = net.embed(x)
    logits = net.head(z) if hasattr(net, "head") else net(x)
    if tta and x.ndim == 4:
        logits = 0.5 * (logits + net(x.flip(3)))
    return z, logits


def predict_batches(
    forward: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], batches: Iterable[torch.Tensor],
    device: torch.device, amp: bool, num_classes: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities (N, C) and embeddings (N, d), float32, of ``forward`` (a batch
    -> embeddings, logits) over ``batches``, under autocast when ``amp``."""
    probs, embs = [], []
    for x in batches:
        with autocast(device, amp):
            z, logits = forward(x)
        probs.append(torch.softmax(logits.float(), dim=1).cpu())
        embs.append(z.float().cpu())
    if not probs:
        return np.zeros((0, num_classes), np.float32), np.zeros((0, 0), np.float32)
    return torch.cat(probs).numpy(), torch.cat(embs).numpy()
