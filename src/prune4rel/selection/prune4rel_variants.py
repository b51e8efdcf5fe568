"""Prune4ReL variants that are not the published algorithm.

The published selector (:class:`~prune4rel.selection.prune4rel_selector.Prune4ReL`, registry
name ``"prune4rel"``) scores an example by its *prediction* confidence, whatever its given
label. Under heavy human noise this lets confidently *mis*-labelled examples in: on CIFAR-10N
worst (40.2% noise) with a small CNN's warm-up signals, its subsets carry about the base
noise rate (38-41% wrong labels at fractions 0.2-0.8; see ``benchmarks/RESULTS.md``). The
learner trained on the subset sees those wrong given labels, so a confident neighbour with a
wrong label pulls its neighbourhood towards the wrong class instead of helping to re-label it.

:class:`Prune4ReLAgree` (registry name ``"prune4rel_agree"``) keeps the objective, the greedy
rules and the class round-robin, and changes what a pick contributes:

* ``conf(s) = c(s)`` when the warm-up prediction agrees with the given label of ``s``
  (``p_s[y_s]`` is a largest probability), else ``0``, where ``c`` is the base confidence
  (``max_prob`` or ``margin``). An example whose given label the warm-up model contradicts
  adds no neighbourhood confidence;
* zero-gain picks (which the greedy must make once a class has no agreeing example left, or
  once every neighbourhood is saturated to float precision) are no longer taken in index
  order: ties in the greedy score go to the larger given-label probability ``p_s[y_s]``,
  then to the lower index (``fill="given_prob"``, the default; ``fill="index"`` keeps the
  engine's plain lowest-index rule).

No clean label is read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prune4rel.selection.base import register
from prune4rel.selection.prune4rel_selector import Prune4ReL, confidence_scores
from prune4rel.signals import Signals

__all__ = ["FILLS", "Prune4ReLAgree", "agreement_confidence", "given_label_probability"]

#: Tie-break rules of :class:`Prune4ReLAgree`.
FILLS = ("given_prob", "index")


def given_label_probability(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Probability of the given label, ``p[i, y_i]``.

    Parameters
    ----------
    probs : ndarray, shape (n, C)
        Softmax probabilities.
    labels : ndarray of int, shape (n,)
        Given labels in ``[0, C)``.

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels)
    return p[np.arange(y.shape[0]), y]


def agreement_confidence(probs: np.ndarray, labels: np.ndarray, kind: str = "max_prob") -> np.ndarray:
    """Confidence that counts only where the prediction agrees with the given label.

    Parameters
    ----------
    probs : ndarray, shape (n, C)
        Softmax probabilities.
    labels : ndarray of int, shape (n,)
        Given labels in ``[0, C)``.
    kind : {"max_prob", "margin"}
        Base confidence (see :func:`~prune4rel.selection.prune4rel_selector.confidence_scores`).

    Returns
    -------
    ndarray of float64, shape (n,)
        The base confidence where ``p[i, y_i]`` equals ``max_c p[i, c]`` (a tie for the top
        counts as agreement), else 0.
    """
    p = np.asarray(probs, dtype=np.float64)
    base = confidence_scores(p, kind)
    agrees = given_label_probability(p, labels) >= p.max(axis=1)
    return np.where(agrees, base, 0.0)


@register("prune4rel_agree")
class Prune4ReLAgree(Prune4ReL):
    """Prune4ReL with label-agreement confidence (not the published algorithm).

    Maximises ``f(S) = sum_x tanh(N(x; S) / eta)`` with
    ``N(x; S) = sum_{s in S, sim(x, s) > tau} sim(x, s) * conf(s)`` as
    :class:`~prune4rel.selection.prune4rel_selector.Prune4ReL` does, but with
    ``conf(s) = c(s) * [p_s[y_s] = max_c p_s[c]]`` (see :func:`agreement_confidence`), and
    ties of the greedy score broken by the given-label probability.

    Parameters
    ----------
    tau, eta, balance, objective, backend, k, device, max_edges, progress, index, index_params, engine,
    target_degree
        As in :class:`~prune4rel.selection.prune4rel_selector.Prune4ReL`.
    confidence : {"max_prob", "margin"}, default "max_prob"
        The base confidence ``c``, zeroed where the prediction disagrees with the given label.
    fill : {"given_prob", "index"}, default "given_prob"
        Tie-break of equal greedy scores (in practice the zero-gain picks of examples whose
        prediction disagrees with their label): larger ``p[i, y_i]`` first, then lower index;
        or lower index only, as the published engine does.

    Notes
    -----
    ``select`` returns the same fields as Prune4ReL's; ``extras["confidence"]`` is the
    ``conf`` used (shape (n,)). The tie-break runs the unchanged greedy engine on the examples
    re-ordered by ``(-p[i, y_i], i)``; the similarity graph is then built on the re-ordered
    embeddings (the same edges; similarities may differ in the last float32 bit).
    """

    def __init__(
        self,
        tau: float = 0.975,
        eta: float = 1.0,
        confidence: str = "max_prob",
        balance: bool = True,
        objective: str = "published",
        backend: str = "auto",
        k: int | None = None,
        device: str = "cpu",
        max_edges: int = 400_000_000,
        fill: str = "given_prob",
        progress: bool = False,
        index: str = "ivf",
        index_params: dict[str, Any] | None = None,
        engine: str = "auto",
        target_degree: float | None = None,
    ) -> None:
        if isinstance(eta, bool) or not isinstance(eta, int | float):
            raise ValueError(f"`eta` must be a positive number, got {eta!r}")
        if fill not in FILLS:
            raise ValueError(f"`fill` must be one of {FILLS}, got {fill!r}")
        super().__init__(
            tau=tau,
            eta=eta,
            confidence=confidence,
            balance=balance,
            objective=objective,
            backend=backend,
            k=k,
            device=device,
            max_edges=max_edges,
            progress=progress,
            index=index,
            index_params=index_params,
            engine=engine,
            target_degree=target_degree,
        )
        self.fill = fill

    def _confidences(self, signals: Signals) -> np.ndarray:
        return agreement_confidence(signals.probs, signals.labels, self.confidence)

    def _order(self, signals: Signals) -> np.ndarray | None:
        if self.fill == "index":
            return None
        given = given_label_probability(signals.probs, signals.labels)
        return np.lexsort((np.arange(signals.n), -given))
