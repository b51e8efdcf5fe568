"""Prune4ReL: pick the examples that make the most neighbours confidently re-labelable.

Park et al., "Robust Data Pruning under Label Noise via Maximizing Re-labeling Accuracy",
NeurIPS 2023. An example is likely to be re-labeled correctly when its neighbours in
feature space are confidently predicted, so the selector greedily maximises

    f(S) = sum_x tanh(N(x; S) / eta),   N(x; S) = sum_{s in S, sim(x, s) > tau} sim(x, s) conf(s),

with ``sim = 0.5 + 0.5 * cos`` of the embeddings. See :mod:`prune4rel.selection.greedy` for
the two greedy rules and the class round-robin.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prune4rel.neighbors import (
    CSRGraph,
    DenseRows,
    GraphRows,
    GraphTooLargeError,
    calibrate_tau,
    check_device,
    check_tau,
    exact_graph,
    faiss_graph,
)
from prune4rel.neighbors.faiss_backend import INDEXES
from prune4rel.selection.base import Selection, Selector, register
from prune4rel.selection.greedy import GreedyResult, RowSource, lazy_greedy
from prune4rel.selection.greedy_numba import compiled_lazy_greedy, numba_available
from prune4rel.selection.scores import margin_scores
from prune4rel.signals import Signals

__all__ = ["CONFIDENCES", "Prune4ReL", "confidence_scores", "neighborhood_objective", "resolve_tau"]

CONFIDENCES = ("max_prob", "margin")
_OBJECTIVES = ("published", "full")
_BACKENDS = ("auto", "dense", "graph", "faiss")
_ENGINES = ("auto", "python", "numba")
_FAISS_DEFAULT_K = 64


def confidence_scores(probs: np.ndarray, kind: str = "max_prob") -> np.ndarray:
    """Per-example prediction confidence.

    Parameters
    ----------
    probs : ndarray, shape (n, C)
        Softmax probabilities.
    kind : {"max_prob", "margin"}
        ``max_prob``: largest probability; ``margin``: largest minus second largest (the
        second largest is 0 when ``C == 1``).

    Returns
    -------
    ndarray of float64, shape (n,), values in [0, 1]
    """
    p = np.asarray(probs, dtype=np.float64)
    if kind == "max_prob":
        return p.max(axis=1)
    if kind == "margin":
        return margin_scores(p)
    raise ValueError(f"`confidence` must be one of {CONFIDENCES}, got {kind!r}")


def resolve_tau(
    embeddings: np.ndarray,
    tau: float,
    target_degree: float | None,
    *,
    device: str = "cpu",
    progress: bool = False,
) -> float:
    """The threshold a selection uses: ``tau``, or the one calibrated to ``target_degree``.

    Parameters
    ----------
    embeddings : ndarray, shape (n, d)
    tau : float
        The fixed threshold, returned when ``target_degree`` is None or ``n < 2`` (no pair to
        calibrate on, and none to link).
    target_degree : float or None
        Wanted mean neighbour count, capped at ``n - 1`` (see
        :func:`~prune4rel.neighbors.calibrate_tau`, with its default sample and seed).
    device, progress
        As in :func:`~prune4rel.neighbors.calibrate_tau`.

    Returns
    -------
    float
    """
    n = embeddings.shape[0]
    if target_degree is None or n < 2:
        return tau
    return calibrate_tau(embeddings, min(target_degree, n - 1), device=device, progress=progress)


def neighborhood_objective(
    signals: Signals,
    indices: np.ndarray,
    *,
    tau: float = 0.975,
    eta: float = 1.0,
    confidence: str = "max_prob",
    k: int | None = None,
) -> tuple[float, np.ndarray]:
    """Prune4ReL's objective for any subset, e.g. to compare subsets from other selectors.

    Parameters
    ----------
    signals : Signals
    indices : ndarray of int, shape (m,)
        The subset ``S`` (distinct indices in ``[0, n)``; order is irrelevant).
    tau, eta, confidence, k
        As in :class:`Prune4ReL`.

    Returns
    -------
    value : float
        ``f(S) = sum_x tanh(N(x; S) / eta)``.
    neighborhood_confidence : ndarray of float64, shape (n,)
        ``N(x; S)`` for every example.
    """
    idx = np.asarray(indices)
    if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
        raise ValueError(f"`indices` must be a 1-D integer array, got shape {idx.shape} {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= signals.n):
        raise ValueError(f"`indices` must lie in [0, n={signals.n})")
    if np.unique(idx).size != idx.size:
        raise ValueError("`indices` holds duplicates")
    if not np.isfinite(eta) or eta <= 0:
        raise ValueError(f"`eta` must be a positive number, got {eta!r}")
    weights = np.zeros(signals.n)
    weights[idx] = confidence_scores(signals.probs, confidence)[idx]
    graph = exact_graph(signals.embeddings, tau, k)
    nbr_conf = graph.to_scipy().astype(np.float64) @ weights
    return float(np.tanh(nbr_conf / eta).sum()), np.asarray(nbr_conf)


@register("prune4rel")
class Prune4ReL(Selector):
    """Greedy neighbourhood-confidence maximisation (Prune4ReL).

    Parameters
    ----------
    tau : float, default 0.975
        Similarity threshold in ``[0, 1)``; pairs with ``0.5 + 0.5*cos > tau`` are neighbours
        (0.975 means cosine > 0.95). Every example is its own neighbour; a zero embedding has
        no other neighbour. Ignored when ``target_degree`` is set.
    eta : float, default 1.0
        Saturation temperature of ``tanh(N / eta)``, > 0.
    confidence : {"max_prob", "margin"}, default "max_prob"
        ``conf(s)``: max softmax probability, or top-1 minus top-2 probability.
    balance : bool, default True
        The published class round-robin over the given labels; False picks unconstrained.
    objective : {"published", "full"}, default "published"
        ``published`` reproduces the published greedy rule exactly (score =
        ``tanh((N(x)+conf(x))/eta) - tanh(N(x)/eta)``); ``full`` is the true lazy greedy on
        ``f`` (``1 - 1/e`` guarantee).
    backend : {"auto", "dense", "graph"}, default "auto"
        ``graph`` builds the exact sparse tau-graph once (blocked products, symmetric half
        only) and runs the greedy on it; ``dense`` recomputes similarity rows on the fly
        (bounded memory, suits a GPU); ``auto`` uses ``graph`` and falls back to ``dense``
        when the graph would exceed ``max_edges``; ``faiss`` builds an approximate graph
        with :func:`~prune4rel.neighbors.faiss_graph` (the tau-neighbours of each example
        among its ``k`` nearest found by a faiss index; needs faiss) and runs the greedy on it.
    k : int, optional
        Graph backend: keep at most the ``k`` most similar neighbours of each example
        (besides itself); None keeps every tau-neighbour (exact). Faiss backend: neighbours
        searched per example (None: 64).
    index : {"flat", "ivf", "hnsw"}, default "ivf"
        Faiss backend only: the faiss index (see :func:`~prune4rel.neighbors.faiss_graph`).
    index_params : dict, optional
        Faiss backend only: more keyword arguments of
        :func:`~prune4rel.neighbors.faiss_graph` (``nlist``, ``nprobe``, ``pca_dim``,
        ``symmetrize``, ``hnsw_m``, ``ef_search``, ``seed``, ...).
    engine : {"auto", "python", "numba"}, default "auto"
        Greedy engine on a sparse graph (graph and faiss backends): ``python`` is the
        reference :func:`~prune4rel.selection.greedy.lazy_greedy`; ``numba`` the compiled
        kernel (:func:`~prune4rel.selection.greedy_numba.compiled_lazy_greedy`, same picks,
        needs numba; no per-pick progress bar); ``auto`` uses numba when it is importable.
        The dense backend always uses the Python engine.
    device : str, default "cpu"
        Where similarities are computed: ``"cpu"`` or a CUDA device.
    max_edges : int, default 400_000_000
        Largest graph the ``graph`` backend builds (about 12 bytes an edge).
    progress : bool, default False
        Progress bars for the tau calibration, the graph build and the picks.
    target_degree : float, optional
        Not in the paper. When set, ``tau`` is calibrated on the embeddings of each
        ``select`` call so that an example has on average ``target_degree`` tau-neighbours
        besides itself (:func:`~prune4rel.neighbors.calibrate_tau`, estimated on 2,048
        random rows with seed 0), instead of the fixed ``tau``: the published 0.975 gives a
        mean degree anywhere from about 1 to thousands depending on the network and layer.

    Notes
    -----
    ``select`` returns a :class:`Selection` with ``indices`` in pick order, ``gains`` the
    score of each pick under the chosen objective, ``objective`` = ``f(S)`` and
    ``extras["neighborhood_confidence"]`` = ``N(x; S)`` for every example, shape (n,),
    ``extras["backend"]`` and ``extras["engine"]`` (what was used) and ``extras["tau"]``
    (the threshold used, calibrated or not).

    Embeddings may be a memory map (``np.load(path, mmap_mode="r")`` passed to
    :class:`~prune4rel.signals.Signals`): the graph and faiss backends read it in chunks and
    hold one float32 ``n x d`` copy (unit rows, or the faiss index) at most.
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
        progress: bool = False,
        index: str = "ivf",
        index_params: dict[str, Any] | None = None,
        engine: str = "auto",
        target_degree: float | None = None,
    ) -> None:
        self.tau = check_tau(tau)
        if target_degree is not None and (
            isinstance(target_degree, bool)
            or not isinstance(target_degree, int | float | np.number)
            or not np.isfinite(target_degree)
            or target_degree <= 0
        ):
            raise ValueError(f"`target_degree` must be a positive number or None, got {target_degree!r}")
        if not np.isfinite(eta) or eta <= 0:
            raise ValueError(f"`eta` must be a positive number, got {eta!r}")
        if confidence not in CONFIDENCES:
            raise ValueError(f"`confidence` must be one of {CONFIDENCES}, got {confidence!r}")
        if objective not in _OBJECTIVES:
            raise ValueError(f"`objective` must be one of {_OBJECTIVES}, got {objective!r}")
        if backend not in _BACKENDS:
            raise ValueError(f"`backend` must be one of {_BACKENDS}, got {backend!r}")
        if k is not None and (isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0):
            raise ValueError(f"`k` must be a non-negative integer or None, got {k!r}")
        if k == 0 and backend == "faiss":
            raise ValueError("`k` must be >= 1 with backend='faiss' (neighbours searched per example)")
        if k is not None and backend == "dense":
            raise ValueError("`k` caps the sparse graph: use backend='graph' or 'auto' with k")
        if index not in INDEXES:
            raise ValueError(f"`index` must be one of {INDEXES}, got {index!r}")
        if index_params is not None and not isinstance(index_params, dict):
            raise ValueError(f"`index_params` must be a dict or None, got {index_params!r}")
        reserved = {"embeddings", "tau", "k", "index", "device", "max_edges", "progress"}
        if index_params and reserved & set(index_params):
            raise ValueError(f"`index_params` must not set {sorted(reserved & set(index_params))}")
        if engine not in _ENGINES:
            raise ValueError(f"`engine` must be one of {_ENGINES}, got {engine!r}")
        if engine == "numba" and not numba_available():
            raise ValueError("`engine` is 'numba' but numba is not installed: pip install numba")
        self.eta = float(eta)
        self.confidence = confidence
        self.balance = bool(balance)
        self.objective = objective
        self.backend = backend
        self.k = None if k is None else int(k)
        check_device(device)
        self.device = device
        self.max_edges = int(max_edges)
        self.progress = progress
        self.index = index
        self.index_params = dict(index_params or {})
        self.engine = engine
        self.target_degree = None if target_degree is None else float(target_degree)

    def _graph(self, embeddings: np.ndarray, tau: float) -> tuple[CSRGraph | None, str]:
        """The sparse graph at threshold ``tau`` and the backend used, or (None, "dense")."""
        if self.backend == "faiss":
            graph = faiss_graph(
                embeddings,
                tau,
                _FAISS_DEFAULT_K if self.k is None else self.k,
                index=self.index,
                device=self.device,
                max_edges=self.max_edges,
                progress=self.progress,
                **self.index_params,
            )
            return graph, "faiss"
        if self.backend != "dense":
            try:
                graph = exact_graph(
                    embeddings,
                    tau,
                    self.k,
                    device=self.device,
                    max_edges=self.max_edges,
                    progress=self.progress,
                )
                return graph, "graph"
            except GraphTooLargeError:
                if self.backend == "graph":
                    raise
        return None, "dense"

    def _confidences(self, signals: Signals) -> np.ndarray:
        """``conf(s)`` of every example, shape (n,) (subclasses change what a pick adds)."""
        return confidence_scores(signals.probs, self.confidence)

    def _order(self, signals: Signals) -> np.ndarray | None:
        """A permutation the greedy runs in, so that its lowest-index tie-break follows it.

        None (the published rule) keeps the examples' own order.
        """
        return None

    def _select(self, signals: Signals, budget: int) -> Selection:
        conf = self._confidences(signals)
        order = self._order(signals)
        embeddings, labels = signals.embeddings, signals.labels
        # before any re-ordering: the calibration's query draw follows the rows
        tau = resolve_tau(
            embeddings, self.tau, self.target_degree, device=self.device, progress=self.progress
        )
        if order is not None:
            embeddings, labels = np.asarray(embeddings)[order], labels[order]
            conf = conf[order]
        graph, used = self._graph(embeddings, tau)
        result: GreedyResult
        if graph is not None and self.engine != "python" and numba_available():
            engine = "numba"
            result = compiled_lazy_greedy(
                graph, conf, labels, budget, eta=self.eta, objective=self.objective, balance=self.balance
            )
        else:
            engine = "python"
            rows: RowSource = (
                GraphRows(graph) if graph is not None else DenseRows(embeddings, tau, device=self.device)
            )
            result = lazy_greedy(
                rows,
                conf,
                labels,
                budget,
                eta=self.eta,
                objective=self.objective,
                balance=self.balance,
                progress=self.progress,
            )
        indices, nbr_conf = result.indices, result.neighborhood_confidence
        if order is not None:
            indices = order[indices].astype(np.int64)
            nbr_conf = np.empty_like(nbr_conf)
            nbr_conf[order] = result.neighborhood_confidence
            conf = conf[np.argsort(order)]
        return Selection(
            indices=indices,
            gains=result.gains,
            objective=result.objective(self.eta),
            extras={
                "neighborhood_confidence": nbr_conf,
                "confidence": conf,
                "backend": np.array(used),
                "engine": np.array(engine),
                "tau": np.array(tau),
            },
        )
