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

import numpy as np

from prune4rel.neighbors import DenseRows, GraphRows, check_device, check_tau, exact_graph
from prune4rel.selection.base import Selection, Selector, register
from prune4rel.selection.greedy import RowSource, lazy_greedy
from prune4rel.selection.prune4rel_selector import CONFIDENCES, confidence_scores
from prune4rel.signals import Signals

__all__ = ["FILLS", "Prune4ReLAgree", "agreement_confidence", "given_label_probability"]

#: Tie-break rules of :class:`Prune4ReLAgree`.
FILLS = ("given_prob", "index")
_OBJECTIVES = ("published", "full")
_BACKENDS = ("auto", "dense", "graph")


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
class Prune4ReLAgree(Selector):
    """Prune4ReL with label-agreement confidence (not the published algorithm).

    Maximises ``f(S) = sum_x tanh(N(x; S) / eta)`` with
    ``N(x; S) = sum_{s in S, sim(x, s) > tau} sim(x, s) * conf(s)`` as
    :class:`~prune4rel.selection.prune4rel_selector.Prune4ReL` does, but with
    ``conf(s) = c(s) * [p_s[y_s] = max_c p_s[c]]`` (see :func:`agreement_confidence`), and
    ties of the greedy score broken by the given-label probability.

    Parameters
    ----------
    tau, eta, balance, objective, k, device, max_edges, progress
        As in :class:`~prune4rel.selection.prune4rel_selector.Prune4ReL` (defaults 0.975,
        1.0, True, "published", None, "cpu", 400_000_000, False).
    confidence : {"max_prob", "margin"}, default "max_prob"
        The base confidence ``c``, zeroed where the prediction disagrees with the given label.
    backend : {"auto", "dense", "graph"}, default "auto"
        The exact tau-graph (``graph``), rows computed on the fly (``dense``), or ``graph``
        with a fall-back to ``dense`` past ``max_edges`` (``auto``). The approximate faiss
        backend and the compiled engine of Prune4ReL are not offered here; this selector
        always runs the reference Python engine (:func:`~prune4rel.selection.greedy.lazy_greedy`).
    fill : {"given_prob", "index"}, default "given_prob"
        Tie-break of equal greedy scores (in practice the zero-gain picks of examples whose
        prediction disagrees with their label): larger ``p[i, y_i]`` first, then lower index;
        or lower index only, as the published engine does.

    Notes
    -----
    ``select`` returns the same fields as Prune4ReL's, plus ``extras["confidence"]``, the
    ``conf`` used (shape (n,)). The tie-break is implemented by running the unchanged greedy
    engine on the examples re-ordered by ``(-p[i, y_i], i)``; the similarity graph is then
    built on the re-ordered embeddings (the same edges; similarities may differ in the last
    float32 bit).
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
    ) -> None:
        self.tau = check_tau(tau)
        if isinstance(eta, bool) or not isinstance(eta, int | float) or not np.isfinite(eta) or eta <= 0:
            raise ValueError(f"`eta` must be a positive number, got {eta!r}")
        if confidence not in CONFIDENCES:
            raise ValueError(f"`confidence` must be one of {CONFIDENCES}, got {confidence!r}")
        if objective not in _OBJECTIVES:
            raise ValueError(f"`objective` must be one of {_OBJECTIVES}, got {objective!r}")
        if backend not in _BACKENDS:
            raise ValueError(f"`backend` must be one of {_BACKENDS}, got {backend!r}")
        if k is not None and (isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0):
            raise ValueError(f"`k` must be a non-negative integer or None, got {k!r}")
        if k is not None and backend == "dense":
            raise ValueError("`k` caps the sparse graph: use backend='graph' or 'auto' with k")
        if fill not in FILLS:
            raise ValueError(f"`fill` must be one of {FILLS}, got {fill!r}")
        self.eta = float(eta)
        self.confidence = confidence
        self.balance = bool(balance)
        self.objective = objective
        self.backend = backend
        self.k = None if k is None else int(k)
        check_device(device)
        self.device = device
        self.max_edges = int(max_edges)
        self.fill = fill
        self.progress = progress

    def _rows(self, embeddings: np.ndarray) -> tuple[RowSource, str]:
        """Neighbourhood rows: the exact sparse graph, or on-the-fly rows (``dense``)."""
        if self.backend != "dense":
            try:
                graph = exact_graph(
                    embeddings,
                    self.tau,
                    self.k,
                    device=self.device,
                    max_edges=self.max_edges,
                    progress=self.progress,
                )
                return GraphRows(graph), "graph"
            except ValueError as exc:
                if self.backend == "graph" or "max_edges" not in str(exc):
                    raise
        return DenseRows(embeddings, self.tau, device=self.device), "dense"

    def _select(self, signals: Signals, budget: int) -> Selection:
        labels = np.asarray(signals.labels)
        conf = agreement_confidence(signals.probs, labels, self.confidence)
        n = signals.n
        if self.fill == "given_prob":
            order = np.lexsort((np.arange(n), -given_label_probability(signals.probs, labels)))
        else:
            order = np.arange(n)
        embeddings = signals.embeddings if self.fill == "index" else np.asarray(signals.embeddings)[order]
        rows, used = self._rows(embeddings)
        result = lazy_greedy(
            rows,
            conf[order],
            labels[order],
            budget,
            eta=self.eta,
            objective=self.objective,
            balance=self.balance,
            progress=self.progress,
        )
        nbr_conf = np.empty(n, dtype=np.float64)
        nbr_conf[order] = result.neighborhood_confidence
        return Selection(
            indices=order[result.indices].astype(np.int64),
            gains=result.gains,
            objective=result.objective(self.eta),
            extras={
                "neighborhood_confidence": nbr_conf,
                "confidence": conf,
                "backend": np.array(used),
            },
        )
