"""The pure pieces of DivideMix's co-divide and MixMatch steps: the clean probability of
each example from a two-component Gaussian mixture over its loss (over all examples, or
within each given class), temperature sharpening of label guesses, and MixUp."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

__all__ = ["classwise_clean_probability", "gmm_clean_probability", "mixup", "sharpen"]

#: The paper's mixture settings (sklearn's GaussianMixture).
_GMM_KW: dict[str, Any] = {"n_components": 2, "max_iter": 10, "tol": 1e-2, "reg_covar": 5e-4}


def sharpen(p: torch.Tensor, temperature: float) -> torch.Tensor:
    """Temperature sharpening ``p^(1/T) / sum p^(1/T)`` of probability rows.

    Parameters
    ----------
    p : Tensor, shape (B, C)
    temperature : float
        ``T > 0``; ``T < 1`` sharpens.

    Returns
    -------
    Tensor, shape (B, C), rows summing to 1
    """
    q = p.clamp_min(1e-12) ** (1.0 / temperature)
    return q / q.sum(dim=1, keepdim=True)


def gmm_clean_probability(losses: np.ndarray, seed: int) -> np.ndarray:
    """Clean probability of each example from its loss: the posterior of the small-mean
    component of a two-component 1-D Gaussian mixture fitted to the min-max scaled losses.

    Parameters
    ----------
    losses : ndarray of float, shape (m,)
    seed : int
        ``random_state`` of the mixture's k-means initialisation.

    Returns
    -------
    ndarray of float32, shape (m,), in [0, 1]
        All ones when ``m < 2`` (nothing to divide).
    """
    loss = np.asarray(losses, np.float64).ravel()
    if loss.size < 2:
        return np.ones(loss.size, np.float32)
    span = loss.max() - loss.min()
    scaled = (loss - loss.min()) / max(span, 1e-12)
    gmm = GaussianMixture(random_state=seed, **_GMM_KW)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=10 is the paper's choice
        gmm.fit(scaled[:, None])
    post = gmm.predict_proba(scaled[:, None])
    return post[:, int(np.argmin(gmm.means_.ravel()))].astype(np.float32)


def classwise_clean_probability(losses: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    """:func:`gmm_clean_probability` fitted separately to the examples of each given label.

    A network that still favours some classes gives every example labeled with a favoured
    class a small loss; one mixture over all losses then calls those examples clean and
    the others noisy, whatever their labels' quality. Within one class that bias is a
    constant shift, so each class is divided by how well its examples fit it.

    Parameters
    ----------
    losses : ndarray of float, shape (m,)
    labels : ndarray of int, shape (m,)
        The given label of each example.
    seed : int
        ``random_state`` of every class's mixture.

    Returns
    -------
    ndarray of float32, shape (m,), in [0, 1]
        All ones for a class with fewer than 2 examples.
    """
    loss = np.asarray(losses, np.float64).ravel()
    labels = np.asarray(labels).ravel()
    if labels.shape != loss.shape:
        raise ValueError(f"`labels` must have the shape of `losses` {loss.shape}, got {labels.shape}")
    out = np.ones(loss.size, np.float32)
    for c in np.unique(labels):
        rows = labels == c
        out[rows] = gmm_clean_probability(loss[rows], seed)
    return out


def mixup(
    x: torch.Tensor, t: torch.Tensor, lam: float, perm: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """MixUp of inputs (B, ...) and targets (B, C) with their permutation ``perm`` (B,):
    ``lam * a + (1 - lam) * a[perm]`` for both."""
    return lam * x + (1 - lam) * x[perm], lam * t + (1 - lam) * t[perm]
