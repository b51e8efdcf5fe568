"""Synthetic clustered embeddings and warm-up-like probabilities for benchmarks.

Each class has a few sub-clusters around a random class direction; points scatter around
their sub-cluster with a per-point spread drawn from a log-normal, so neighbourhood sizes vary
from isolated points to dense cores, as in real penultimate features. 30% of the given labels
are flipped uniformly; the probabilities favour the true class with varying confidence.
"""

from __future__ import annotations

import numpy as np

from prune4rel import Signals


def clustered_signals(
    n: int = 50_000,
    dim: int = 512,
    classes: int = 10,
    sub_clusters: int = 8,
    noise: float = 0.3,
    seed: int = 0,
) -> Signals:
    """Signals with ``n`` clustered ``dim``-d float32 embeddings and ``classes`` classes."""
    rng = np.random.default_rng(seed)
    clean = rng.integers(0, classes, size=n)
    sub = rng.integers(0, sub_clusters, size=n)
    class_dirs = rng.normal(size=(classes, dim)).astype(np.float32)
    sub_dirs = class_dirs[:, None, :] + 0.7 * rng.normal(size=(classes, sub_clusters, dim)).astype(np.float32)
    spread = np.exp(rng.normal(np.log(0.012), 0.35, size=n)).astype(np.float32)
    emb = np.empty((n, dim), dtype=np.float32)
    for lo in range(0, n, 8192):
        hi = min(lo + 8192, n)
        base = sub_dirs[clean[lo:hi], sub[lo:hi]]
        scale = np.linalg.norm(base, axis=1, keepdims=True)
        emb[lo:hi] = base + spread[lo:hi, None] * scale * rng.normal(size=(hi - lo, dim)).astype(
            np.float32
        ) * np.sqrt(1.0 / 1.0)
    flip = rng.random(n) < noise
    labels = np.where(flip, rng.integers(0, classes, size=n), clean)
    logits = rng.normal(0, 1, size=(n, classes))
    logits[np.arange(n), clean] += rng.uniform(0.5, 5.0, size=n)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    return Signals(labels=labels, probs=probs.astype(np.float32), embeddings=emb, clean_labels=clean)
