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

from typing import Any, ClassVar

import numpy as np

from prune4rel.selection.base import register
from prune4rel.selection.prune4rel_selector import Prune4ReL, confidence_scores
from prune4rel.signals import Signals
from prune4rel.validation import Options, Rule

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
    fill : {"given_prob", "index"}, default "given_prob"
        Keyword only. Tie-break of equal greedy scores (in practice the zero-gain picks of
        examples whose prediction disagrees with their label): larger ``p[i, y_i]`` first,
        then lower index; or lower index only, as the published engine does.
    **params
        Every parameter of :class:`~prune4rel.selection.prune4rel_selector.Prune4ReL`, with
        its rules; ``confidence`` is the base confidence ``c``, zeroed where the prediction
        disagrees with the given label.

    Notes
    -----
    ``select`` returns the same fields as Prune4ReL's and takes the same prebuilt ``graph``
    (in the examples' own order); ``extras["confidence"]`` is the ``conf`` used (shape
    (n,)). The tie-break runs the unchanged greedy engine on the examples re-ordered by
    ``(-p[i, y_i], i)``: the graph is built in the examples' own order and its nodes renamed
    (:meth:`~prune4rel.neighbors.CSRGraph.permute`), so a graph built once serves both
    selectors. Dense rows are computed on the re-ordered embeddings.
    """

    param_rules: ClassVar[dict[str, Rule]] = {**Prune4ReL.param_rules, "fill": Options(*FILLS)}

    def __init__(self, *, fill: str = "given_prob", **params: Any) -> None:
        self.fill = fill
        super().__init__(**params)

    def _confidences(self, signals: Signals) -> np.ndarray:
        return agreement_confidence(signals.probs, signals.labels, self.confidence)

    def _order(self, signals: Signals) -> np.ndarray | None:
        if self.fill == "index":
            return None
        given = given_label_probability(signals.probs, signals.labels)
        return np.lexsort((np.arange(signals.n), -given))
