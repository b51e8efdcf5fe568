"""Prune4ReL: pick the examples that make the most neighbours confidently re-labelable.

Park et al., "Robust Data Pruning under Label Noise via Maximizing Re-labeling Accuracy",
NeurIPS 2023. An example is likely to be re-labeled correctly when its neighbours in
feature space are confidently predicted, so the selector greedily maximises

    f(S) = sum_x tanh(N(x; S) / eta),   N(x; S) = sum_{s in S, sim(x, s) > tau} sim(x, s) conf(s),

with ``sim = 0.5 + 0.5 * cos`` of the embeddings. See :mod:`prune4rel.selection.greedy` for
the two greedy rules and the class round-robin.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from prune4rel.neighbors import (
    GRAPH_BACKENDS,
    CSRGraph,
    DenseRows,
    GraphMismatchError,
    GraphRows,
    GraphTooLargeError,
    build_graph,
    calibrate_tau,
    check_device,
    check_graph,
    exact_graph,
)
from prune4rel.neighbors.build import GRAPH_RULES
from prune4rel.neighbors.faiss_backend import INDEXES
from prune4rel.selection.base import Selection, Selector, register
from prune4rel.selection.greedy import GreedyResult, RowSource, lazy_greedy
from prune4rel.selection.greedy_numba import compiled_lazy_greedy, numba_available
from prune4rel.selection.scores import margin_scores
from prune4rel.signals import Signals
from prune4rel.validation import (
    Boolean,
    Integer,
    MappingOf,
    Options,
    ParameterError,
    Real,
    Rule,
    optional,
    validate_params,
)

__all__ = ["CONFIDENCES", "Prune4ReL", "confidence_scores", "neighborhood_objective", "resolve_tau"]

CONFIDENCES = ("max_prob", "margin")
_ETA = Real(0.0, None, closed="neither")
#: faiss options that ``index_params`` may set (``index`` is a parameter of its own).
_INDEX_OPTIONS = {k: v for k, v in GRAPH_BACKENDS["faiss"].options.items() if k != "index"}


class _IndexParams(MappingOf):
    """None or a mapping of faiss options, each checked by its own rule."""

    def describe(self) -> str:
        return "None or a mapping of faiss options (" + ", ".join(_INDEX_OPTIONS) + ")"

    def check(self, name: str, value: Any) -> dict[str, Any]:
        return validate_params(_INDEX_OPTIONS, super().check(name, value), prefix=f"{name}.")


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
    eta = _ETA.check("eta", eta)
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
    backend : {"auto", "dense", "graph", "torch", "faiss"}, default "auto"
        ``graph`` builds the exact sparse tau-graph once (blocked products, symmetric half
        only, a cluster plan that skips distant pairs on the CPU) and runs the greedy on it;
        ``torch`` builds the same exact graph from float16/bfloat16 tensor-core products with
        a proven error band decided in float64 (:func:`~prune4rel.neighbors.torch_graph`, the
        GPU path); ``dense`` recomputes similarity rows on the fly (bounded memory);
        ``auto`` uses ``torch`` when ``device`` is a GPU and ``graph`` otherwise, and falls
        back to ``dense`` when the graph would exceed ``max_edges``; ``faiss`` builds an approximate graph
        with :func:`~prune4rel.neighbors.faiss_graph` (the tau-neighbours of each example
        among its ``k`` nearest found by a faiss index; needs faiss) and runs the greedy on it.
        Any other key of :data:`~prune4rel.neighbors.GRAPH_BACKENDS` names a graph backend too.
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

    A graph built once serves every ``select`` with the same threshold and cap: pass it as
    ``select(signals, budget, graph=g)``, with ``g`` from :meth:`graph_for` or
    :func:`~prune4rel.neighbors.build_graph` (it is checked to fit, see :meth:`select`).

    Embeddings may be a memory map (``np.load(path, mmap_mode="r")`` passed to
    :class:`~prune4rel.signals.Signals`): the graph and faiss backends read it in chunks and
    hold one float32 ``n x d`` copy (unit rows, or the faiss index) at most.
    """

    param_rules: ClassVar[dict[str, Rule]] = {
        "tau": GRAPH_RULES["tau"],
        "eta": _ETA,
        "confidence": Options(*CONFIDENCES),
        "balance": Boolean(),
        "objective": Options("published", "full"),
        "backend": Options("auto", "dense", *GRAPH_BACKENDS),
        "k": optional(Integer(0)),
        "device": GRAPH_RULES["device"],
        "max_edges": GRAPH_RULES["max_edges"],
        "progress": GRAPH_RULES["progress"],
        "index": Options(*INDEXES),
        "index_params": _IndexParams(),
        "engine": Options("auto", "python", "numba"),
        "target_degree": optional(Real(0.0, None, closed="neither")),
    }

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
        self.tau = tau
        self.eta = eta
        self.confidence = confidence
        self.balance = balance
        self.objective = objective
        self.backend = backend
        self.k = k
        self.device = device
        self.max_edges = max_edges
        self.progress = progress
        self.index = index
        self.index_params = index_params
        self.engine = engine
        self.target_degree = target_degree
        self._validate_params()

    def _check_params(self) -> None:
        if self.k is not None and self.backend == "dense":
            why = "k caps the sparse graph: use backend='graph' or 'auto'"
            raise ParameterError("k", self.k, f"None with backend='dense' ({why})")
        entry = GRAPH_BACKENDS.get(self.backend)
        if entry is not None and self.k is not None and self.k < entry.min_k:
            allowed = f"an integer >= {entry.min_k} or None with backend={self.backend!r}"
            raise ParameterError("k", self.k, allowed)
        if self.engine == "numba" and not numba_available():
            why = "numba is not installed: pip install numba"
            raise ParameterError("engine", self.engine, f"'auto' or 'python' ({why})")

    def graph_settings(self) -> dict[str, Any]:
        """The parameters that decide :meth:`graph_for`'s graph: selectors with equal settings
        can share one graph (the pipeline builds it once per warm-up)."""
        keys = ("tau", "target_degree", "backend", "k", "device", "max_edges", "index", "index_params")
        return {key: getattr(self, key) for key in keys}

    def graph_for(self, signals: Signals) -> CSRGraph | None:
        """The graph that :meth:`select` builds on ``signals``, to build once and reuse.

        Returns
        -------
        CSRGraph or None
            Built at the threshold ``select`` uses (calibrated when ``target_degree`` is
            set), in the examples' own order; None where ``select`` computes dense rows
            instead (``backend="dense"``, or ``"auto"`` over ``max_edges``).
        """
        return self._build_graph(signals.embeddings, self._tau(signals.embeddings))

    def select(self, signals: Signals, budget: int | float, graph: CSRGraph | None = None) -> Selection:
        """Select ``budget`` examples, on a prebuilt ``graph`` when one is given.

        Parameters
        ----------
        signals : Signals
        budget : int or float
            Count in ``[1, n]`` or fraction in ``(0, 1]``.
        graph : CSRGraph, optional
            From :func:`~prune4rel.neighbors.build_graph` (or :meth:`graph_for`) on
            ``signals.embeddings`` in their own order. It must fit: ``n`` nodes, the ``tau``
            this selection uses (the calibrated one with ``target_degree``), the selector's
            ``k``, and its ``backend`` unless that is ``"auto"``. The selection is then the
            one the selector makes when it builds the same graph itself.

        Raises
        ------
        GraphMismatchError
            When ``graph`` does not fit, or the backend is ``"dense"``.
        """
        return self._run(signals, budget, lambda count: self._select(signals, count, graph))

    def _tau(self, embeddings: np.ndarray) -> float:
        """The threshold of a selection on ``embeddings`` (in the examples' own order)."""
        return resolve_tau(
            embeddings, self.tau, self.target_degree, device=self.device, progress=self.progress
        )

    def _check_given(self, graph: CSRGraph, n: int, tau: float) -> None:
        if self.backend == "dense":
            raise GraphMismatchError("backend='dense' computes rows on the fly and takes no `graph`")
        calibrated = self.target_degree is not None
        tau_from = f" (calibrated to target_degree={self.target_degree})" if calibrated else ""
        backend = None if self.backend == "auto" else self.backend
        check_graph(graph, n, tau, self.k, backend=backend, tau_from=tau_from)

    def _build_graph(self, embeddings: np.ndarray, tau: float) -> CSRGraph | None:
        """The sparse graph at threshold ``tau``, or None where dense rows are used."""
        if self.backend == "dense":
            return None
        backend = self.backend
        if backend == "auto":  # the tensor-core graph on a GPU, the cluster plan on the CPU
            backend = "torch" if check_device(self.device).type == "cuda" else "graph"
        options = {"index": self.index, **(self.index_params or {})} if backend == "faiss" else {}
        try:
            return build_graph(
                embeddings,
                tau,
                backend=backend,
                k=self.k,
                device=self.device,
                max_edges=self.max_edges,
                progress=self.progress,
                **options,
            )
        except GraphTooLargeError:
            if self.backend == "auto":
                return None
            raise

    def _confidences(self, signals: Signals) -> np.ndarray:
        """``conf(s)`` of every example, shape (n,) (subclasses change what a pick adds)."""
        return confidence_scores(signals.probs, self.confidence)

    def _order(self, signals: Signals) -> np.ndarray | None:
        """A permutation the greedy runs in, so that its lowest-index tie-break follows it.

        None (the published rule) keeps the examples' own order.
        """
        return None

    def _select(self, signals: Signals, budget: int, graph: CSRGraph | None = None) -> Selection:
        conf = self._confidences(signals)
        embeddings, labels = signals.embeddings, signals.labels
        tau = self._tau(embeddings)  # before any re-ordering: the calibration's draw follows the rows
        if graph is not None:
            self._check_given(graph, signals.n, tau)
        else:
            graph = self._build_graph(embeddings, tau)
        used = "dense" if graph is None else str(graph.backend)
        order = self._order(signals)
        if order is not None:
            labels, conf = labels[order], conf[order]
            if graph is not None:
                graph = graph.permute(order)
            else:
                embeddings = np.asarray(embeddings)[order]
        result: GreedyResult
        if graph is not None and self.engine != "python" and numba_available():
            engine = "numba"
            result = compiled_lazy_greedy(
                graph, conf, labels, budget, eta=self.eta, objective=self.objective, balance=self.balance,
                progress=self.progress,
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
