"""Score-based baseline selectors: rank every example by one number and keep the best.

All of them share one contract (see :class:`~prune4rel.selection._common.ScoreSelector`):

* ``Selection.indices``: distinct int64 indices ordered **best first** (the order in which
  the ranking keeps them; ties broken by the lower index unless a selector says otherwise);
* ``Selection.gains``: the score of each pick, float64, in the units stated per selector;
* ``Selection.extras["score"]``: the score of all ``n`` examples, shape (n,);
* ``balance=True``: the best ``class_budgets(labels, budget)[c]`` examples of each class
  ``c`` under the given labels, merged and ordered by score.

The per-example score functions are public so that other selectors (e.g. CCS) and analysis
code can reuse them; each takes arrays, not :class:`~prune4rel.signals.Signals`.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from scipy.special import entr

from prune4rel.neighbors.similarity import unit64
from prune4rel.selection._common import SEED, ScoreSelector
from prune4rel.selection.base import register
from prune4rel.signals import Signals
from prune4rel.validation import Boolean, Options, Rule

__all__ = [
    "AUM",
    "EL2N",
    "Entropy",
    "Forgetting",
    "GraNd",
    "LeastConfidence",
    "Margin",
    "SmallLoss",
    "aum_scores",
    "cross_entropy",
    "el2n_scores",
    "entropy_scores",
    "forgetting_scores",
    "grand_scores",
    "least_confidence_scores",
    "margin_scores",
]

#: Probability floor of :func:`cross_entropy`: the loss of a zero probability is -log(1e-12).
CE_EPS = 1e-12


# ---------------------------------------------------------------------- score functions
def cross_entropy(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cross-entropy of the given label, ``-log(max(p[i, y_i], 1e-12))``.

    Parameters
    ----------
    probs : ndarray of float, shape (n, C)
    labels : ndarray of int, shape (n,)

    Returns
    -------
    ndarray of float64, shape (n,)
        Loss in nats, in ``[0, -log(1e-12)] ≈ [0, 27.6]``.
    """
    p_y = probs[np.arange(labels.shape[0]), labels].astype(np.float64)
    return -np.log(np.maximum(p_y, CE_EPS))


def least_confidence_scores(probs: np.ndarray) -> np.ndarray:
    """Uncertainty ``1 - max_c p[i, c]``, shape (n,), in ``[0, 1 - 1/C]``."""
    return 1.0 - probs.max(axis=1).astype(np.float64)


def margin_scores(probs: np.ndarray) -> np.ndarray:
    """Top-1 minus top-2 probability, shape (n,), in ``[0, 1]`` (with one class: top-1)."""
    p = probs.astype(np.float64)
    if p.shape[1] == 1:
        return p[:, 0].copy()
    top2 = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def entropy_scores(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy ``-sum_c p log p`` in nats (``0 log 0 = 0``), shape (n,)."""
    return entr(probs.astype(np.float64)).sum(axis=1)


def el2n_scores(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """EL2N of one model: ``||p_i - onehot(y_i)||_2``, shape (n,), in ``[0, sqrt(2)]``."""
    diff = probs.astype(np.float64)  # a copy
    diff[np.arange(labels.shape[0]), labels] -= 1.0
    return np.sqrt(np.einsum("ij,ij->i", diff, diff))


def grand_scores(probs: np.ndarray, labels: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
    """Norm of the cross-entropy gradient w.r.t. the last linear layer's weight and bias.

    For logits ``z = W h + b`` and softmax cross-entropy, ``dL/dz = p - onehot(y)``,
    ``dL/dW = (p - onehot(y)) h^T`` and ``dL/db = p - onehot(y)``, so the Frobenius norm of
    ``[dL/dW, dL/db]`` is ``||p - onehot(y)|| * ||[h, 1]|| = EL2N * sqrt(||h||^2 + 1)``,
    computed without overflow for embeddings of any finite magnitude.

    Parameters
    ----------
    probs : ndarray of float, shape (n, C)
    labels : ndarray of int, shape (n,)
    embeddings : ndarray of float, shape (n, d)
        The penultimate features ``h`` fed to the last layer.

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    h = embeddings.astype(np.float64, copy=False)
    with np.errstate(over="ignore"):
        length = np.sqrt(np.einsum("ij,ij->i", h, h) + 1.0)
    huge = np.flatnonzero(~np.isfinite(length))
    if huge.size:  # ||h||^2 overflowed: ||h|| itself is finite, and sqrt(||h||^2 + 1) = ||h|| there
        length[huge] = unit64(h[huge])[1]
    return el2n_scores(probs, labels) * length


def forgetting_scores(correct: np.ndarray) -> np.ndarray:
    """Number of forgetting events per example, never-learned examples ranked above all.

    A forgetting event is a transition from correct at epoch ``t - 1`` to incorrect at
    epoch ``t`` (Toneva et al., 2019, counted here between recorded epochs rather than
    mini-batch presentations). An example that is never correct gets the score ``E`` (the
    number of epochs), strictly more than any possible count (at most ``floor(E / 2)``),
    which stands for Toneva et al.'s "forgotten infinitely often".

    Parameters
    ----------
    correct : ndarray of bool, shape (E, n)

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    c = correct.astype(bool)
    events = np.count_nonzero(c[:-1] & ~c[1:], axis=0).astype(np.float64)
    events[~c.any(axis=0)] = float(c.shape[0])
    return events


def aum_scores(margins: np.ndarray) -> np.ndarray:
    """Area under the margin: mean over the recorded epochs of ``margins``, shape (n,)."""
    return margins.astype(np.float64).mean(axis=0)


# ---------------------------------------------------------------------- selectors
@register("small_loss")
class SmallLoss(ScoreSelector):
    """Keep the examples with the smallest warm-up loss (the small-loss trick).

    Score (``gains``, nats): the mean over all recorded epochs of ``Signals.losses``
    (shape (E, n)), or, when ``loss="probs"`` (or ``"auto"`` without ``losses``), the
    cross-entropy of the final ``probs`` at the given label,
    ``-log(max(p[i, y_i], 1e-12))``. Indices come smallest loss first.

    Parameters
    ----------
    loss : {"auto", "history", "probs"}
        ``"history"`` requires ``Signals.losses`` (MissingSignalError otherwise);
        ``"probs"`` always uses the final ``probs``; ``"auto"`` uses the history when
        present, else the final ``probs``.
    balance : bool
        Per-class budgets proportional to the class sizes under the given labels.
    """

    keep = "lowest"
    param_rules: ClassVar[dict[str, Rule]] = {
        "loss": Options("auto", "history", "probs"),
        "balance": Boolean(),
    }

    def __init__(self, loss: str = "auto", balance: bool = False) -> None:
        self.loss = loss
        self.balance = balance
        self._validate_params()

    def needed_signals(self) -> tuple[str, ...]:
        return ("losses",) if self.loss == "history" else ()

    def alternative(self, name: str) -> str:
        return "pass loss='auto' or loss='probs' to use the cross-entropy of the final probs"

    def _source(self, signals: Signals) -> str:
        if self.loss == "auto":
            return "history" if signals.losses is not None else "probs"
        return self.loss

    def scores(self, signals: Signals) -> np.ndarray:
        if self._source(signals) == "history":
            assert signals.losses is not None  # checked by check_signals / _source
            return signals.losses.astype(np.float64).mean(axis=0)
        return cross_entropy(signals.probs, signals.labels)


@register("least_confidence")
class LeastConfidence(ScoreSelector):
    """Keep the most uncertain examples: the smallest maximum probability.

    Score (``gains``): ``1 - max_c p[i, c]`` in ``[0, 1 - 1/C]``; highest kept, first.

    Parameters
    ----------
    balance : bool
        Per-class budgets proportional to the class sizes under the given labels.
    """

    keep = "highest"

    def scores(self, signals: Signals) -> np.ndarray:
        return least_confidence_scores(signals.probs)


@register("margin")
class Margin(ScoreSelector):
    """Keep the most uncertain examples: the smallest gap between the top two probabilities.

    Score (``gains``): ``p_(1) - p_(2)`` (largest minus second largest probability) in
    ``[0, 1]``; smallest kept, first. With a single class the margin is ``p_(1) = 1``.

    Parameters
    ----------
    balance : bool
        Per-class budgets proportional to the class sizes under the given labels.
    """

    keep = "lowest"

    def scores(self, signals: Signals) -> np.ndarray:
        return margin_scores(signals.probs)


@register("entropy")
class Entropy(ScoreSelector):
    """Keep the most uncertain examples: the highest predictive entropy.

    Score (``gains``): ``-sum_c p log p`` in nats, in ``[0, log C]``; highest kept, first.

    Parameters
    ----------
    balance : bool
        Per-class budgets proportional to the class sizes under the given labels.
    """

    keep = "highest"

    def scores(self, signals: Signals) -> np.ndarray:
        return entropy_scores(signals.probs)


@register("el2n")
class EL2N(ScoreSelector):
    """Keep the hardest examples by the error L2 norm (Paul et al., 2021).

    Score (``gains``): ``||p_i - onehot(y_i)||_2`` of the final warm-up ``probs`` at the
    given label, in ``[0, sqrt(2)]``; highest kept, first. Paul et al. average this norm
    over several independently trained models at an early epoch; ``Signals`` hold one
    model's final probabilities, so this is the single-model, end-of-warm-up variant.

    Parameters
    ----------
    balance : bool
        Per-class budgets proportional to the class sizes under the given labels.
    """

    keep = "highest"

    def scores(self, signals: Signals) -> np.ndarray:
        return el2n_scores(signals.probs, signals.labels)


@register("grand")
class GraNd(ScoreSelector):
    """Keep the examples with the largest last-layer gradient norm (GraNd, Paul et al., 2021).

    Score (``gains``): the Frobenius norm of the softmax cross-entropy gradient with respect
    to the last linear layer's weight and bias at the given label,
    ``||p_i - onehot(y_i)|| * sqrt(||h_i||^2 + 1)`` with ``h_i`` the embedding (see
    :func:`grand_scores`); highest kept, first. Paul et al. take the expectation of the
    full-network gradient norm over random initialisations at (or near) initialisation;
    this is the last-layer approximation of one warm-up model, which assumes the
    embeddings are the last layer's inputs.

    Parameters
    ----------
    balance : bool
        Per-class budgets proportional to the class sizes under the given labels.
    """

    keep = "highest"
    embeddings_scale_free = False

    def scores(self, signals: Signals) -> np.ndarray:
        return grand_scores(signals.probs, signals.labels, signals.embeddings)


@register("forgetting")
class Forgetting(ScoreSelector):
    """Keep the most forgotten examples (Toneva et al., 2019).

    Score (``gains``): the number of correct → incorrect transitions between consecutive
    recorded epochs of ``Signals.correct`` (shape (E, n)); never-learned examples score
    ``E``, above every possible count (see :func:`forgetting_scores`). Highest kept, first.
    Counts tie often, so ties are broken by a random permutation drawn from ``seed``
    (not by index, which would favour the start of the dataset).

    Parameters
    ----------
    seed : int
        Seed of the tie-breaking permutation; the same seed gives the same subset.
    balance : bool
        Per-class budgets proportional to the class sizes under the given labels.
    """

    keep = "highest"
    required_signals = ("correct",)
    param_rules: ClassVar[dict[str, Rule]] = {"seed": SEED, "balance": Boolean()}

    def __init__(self, seed: int = 0, balance: bool = False) -> None:
        self.seed = seed
        self.balance = balance
        self._validate_params()

    def tiebreak(self, n: int) -> np.ndarray:
        return np.random.default_rng(self.seed).permutation(n)

    def scores(self, signals: Signals) -> np.ndarray:
        assert signals.correct is not None  # checked by check_signals
        return forgetting_scores(signals.correct)


@register("aum")
class AUM(ScoreSelector):
    """Keep the examples with the highest area under the margin (Pleiss et al., 2020).

    Score (``gains``, logit units): the mean over recorded epochs of ``Signals.margins``
    (shape (E, n)), the logit of the given label minus the largest other logit. Pleiss et
    al. flag low (negative) AUM as likely mislabelled, so for pruning under label noise the
    highest AUM is kept, first.

    Parameters
    ----------
    balance : bool
        Per-class budgets proportional to the class sizes under the given labels.
    """

    keep = "highest"
    required_signals = ("margins",)

    def scores(self, signals: Signals) -> np.ndarray:
        assert signals.margins is not None  # checked by check_signals
        return aum_scores(signals.margins)
