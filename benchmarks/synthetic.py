"""Synthetic clustered embeddings and warm-up-like probabilities for benchmarks.

Each class has a few sub-clusters around a random class direction; points scatter around
their sub-cluster with a per-point spread drawn from a log-normal, so neighbourhood sizes vary
from isolated points to dense cores, as in real penultimate features. 30% of the given labels
are flipped uniformly; the probabilities favour the true class with varying confidence.
"""

from __future__ import annotations

import numpy as np

from prune4rel import Signals


def _layout(
    rng: np.random.Generator, n: int, dim: int, classes: int, sub_clusters: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Clean class and sub-cluster of each point, sub-cluster directions, per-point spread."""
    clean = rng.integers(0, classes, size=n)
    sub = rng.integers(0, sub_clusters, size=n)
    class_dirs = rng.normal(size=(classes, dim)).astype(np.float32)
    sub_dirs = class_dirs[:, None, :] + 0.7 * rng.normal(size=(classes, sub_clusters, dim)).astype(np.float32)
    spread = np.exp(rng.normal(np.log(0.012), 0.35, size=n)).astype(np.float32)
    return clean, sub, sub_dirs, spread


def _points(rng: np.random.Generator, base: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """Points scattered around their sub-cluster directions ``base`` (rows), float32."""
    scale = np.linalg.norm(base, axis=1, keepdims=True)
    return base + spread[:, None] * scale * rng.normal(size=base.shape).astype(np.float32)


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
    clean, sub, sub_dirs, spread = _layout(rng, n, dim, classes, sub_clusters)
    emb = np.empty((n, dim), dtype=np.float32)
    for lo in range(0, n, 8192):
        hi = min(lo + 8192, n)
        emb[lo:hi] = _points(rng, sub_dirs[clean[lo:hi], sub[lo:hi]], spread[lo:hi])
    flip = rng.random(n) < noise
    labels = np.where(flip, rng.integers(0, classes, size=n), clean)
    logits = rng.normal(0, 1, size=(n, classes))
    logits[np.arange(n), clean] += rng.uniform(0.5, 5.0, size=n)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    return Signals(labels=labels, probs=probs.astype(np.float32), embeddings=emb, clean_labels=clean)


def clustered_arrays(
    n: int = 200_000,
    dim: int = 512,
    classes: int = 1000,
    sub_clusters: int = 8,
    noise: float = 0.3,
    seed: int = 0,
    out: np.ndarray | None = None,
    chunk: int = 8192,
    angles_of_dim: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The geometry of :func:`clustered_signals` for many classes, without the (n, C) probs.

    Same recipe (class directions, ``sub_clusters`` sub-directions per class, log-normal
    per-point spread, ``noise`` uniform label flips), generated chunk by chunk; the
    confidence ``max_prob`` of warm-up-like probabilities is computed per chunk instead of
    keeping an ``n x classes`` matrix (1000 classes x 1.28M examples would be 5 GB).

    Parameters
    ----------
    out : ndarray of float32, shape (n, dim), optional
        Where to write the embeddings (e.g. an ``np.lib.format.open_memmap`` of a .npy file).
    angles_of_dim : int, optional
        Scale the per-point spread by ``sqrt(angles_of_dim / dim)`` so that the angles between
        points (and the tau-neighbourhoods) are those of the recipe at ``angles_of_dim``
        features: the noise norm grows with ``sqrt(dim)``. None keeps the spread as is.

    Returns
    -------
    embeddings : ndarray of float32, shape (n, dim)
    labels : ndarray of int64, shape (n,)
        Given (noisy) labels.
    conf : ndarray of float64, shape (n,)
        Max softmax probability of each example.
    """
    rng = np.random.default_rng(seed)
    clean, sub, sub_dirs, spread = _layout(rng, n, dim, classes, sub_clusters)
    if angles_of_dim is not None:
        spread *= np.float32(np.sqrt(angles_of_dim / dim))
    emb = np.empty((n, dim), dtype=np.float32) if out is None else out
    conf = np.empty(n, dtype=np.float64)
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        emb[lo:hi] = _points(rng, sub_dirs[clean[lo:hi], sub[lo:hi]], spread[lo:hi])
        logits = rng.normal(0, 1, size=(hi - lo, classes))
        logits[np.arange(hi - lo), clean[lo:hi]] += rng.uniform(0.5, 5.0, size=hi - lo)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        conf[lo:hi] = probs.max(axis=1) / probs.sum(axis=1)
    flip = rng.random(n) < noise
    labels = np.where(flip, rng.integers(0, classes, size=n), clean)
    return emb, labels.astype(np.int64), conf
