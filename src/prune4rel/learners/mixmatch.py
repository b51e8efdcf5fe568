"""The pure pieces of DivideMix's co-divide and MixMatch steps: the clean probability of
each example from a two-component Gaussian mixture over its loss, temperature sharpening of
label guesses, and MixUp."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

__all__ = ["gmm_clean_probability", "mixup", "sharpen"]

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


def mixup(
    x: torch.Tensor, t: torch.Tensor, lam: float, perm: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """MixUp of inputs (B, ...) and targets (B, C) with their permutation ``perm`` (B,):
    ``lam * a + (1 - lam) * a[perm]`` for both."""
    return lam * x + (1 - lam) * x[perm], lam * t + (1 - lam) * t[perm]
