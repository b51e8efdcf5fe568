"""One entry point for every graph backend: build a neighbour graph once, reuse it.

:func:`build_graph` builds a :class:`~prune4rel.neighbors.CSRGraph` with a named backend and
records on it how it was built (``tau``, ``backend``, ``k``), so that a selector given the
graph can check that it fits (:func:`check_graph`) instead of building its own. A backend is
one entry of :data:`GRAPH_BACKENDS`: its builder, with the signature
``build(embeddings, tau, k, *, device, max_edges, progress, **options)``, the ``k`` it uses
when the caller gives None, and the rules of its own keyword options.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import prune4rel.devices as devices
from prune4rel.neighbors.exact import EXACT_OPTIONS, exact_graph
from prune4rel.neighbors.faiss_backend import FAISS_OPTIONS, faiss_graph
from prune4rel.neighbors.graph import CSRGraph
from prune4rel.neighbors.torch_backend import TORCH_OPTIONS, torch_graph
from prune4rel.validation import (
    Boolean,
    Integer,
    ParameterError,
    Real,
    Rule,
    optional,
    validate_params,
)

__all__ = [
    "GRAPH_BACKENDS",
    "GRAPH_RULES",
    "GraphBackend",
    "GraphMismatchError",
    "build_graph",
    "check_graph",
]


class GraphMismatchError(ValueError):
    """A prebuilt graph that does not fit the selection it was given to."""


@dataclass(frozen=True)
class GraphBackend:
    """How one backend builds a graph.

    Attributes
    ----------
    build : callable
        ``build(embeddings, tau, k, *, device, max_edges, progress, **options) -> CSRGraph``.
    default_k : int or None
        The ``k`` used when the caller gives None (None: every tau-neighbour).
    min_k : int
        The smallest ``k`` the backend accepts.
    options : mapping of str to Rule
        The backend's own keyword options and what each allows.
    """

    build: Callable[..., CSRGraph]
    default_k: int | None = None
    min_k: int = 0
    options: Mapping[str, Rule] = field(default_factory=dict)


#: Rules of the arguments every backend takes (selectors declare the same ones).
GRAPH_RULES: dict[str, Rule] = {
    "tau": Real(0.0, 1.0, closed="left"),
    "device": devices.DeviceRule(as_string=True),
    "max_edges": Integer(1),
    "progress": Boolean(),
}

#: The backends by name. Adding one is one entry here.
GRAPH_BACKENDS: dict[str, GraphBackend] = {
    "graph": GraphBackend(exact_graph, options=EXACT_OPTIONS),
    "faiss": GraphBackend(faiss_graph, default_k=64, min_k=1, options=FAISS_OPTIONS),
    "torch": GraphBackend(torch_graph, options=TORCH_OPTIONS),
}


def _backend(name: Any) -> GraphBackend:
    if not isinstance(name, str) or name not in GRAPH_BACKENDS:
        raise ParameterError("backend", name, "one of " + ", ".join(repr(b) for b in GRAPH_BACKENDS))
    return GRAPH_BACKENDS[name]


def build_graph(
    embeddings: np.ndarray,
    tau: float,
    *,
    backend: str = "graph",
    k: int | None = None,
    device: str = "cpu",
    max_edges: int = 400_000_000,
    progress: bool = False,
    **options: Any,
) -> CSRGraph:
    """Build the tau-neighbour graph of ``embeddings`` with a named backend.

    Parameters
    ----------
    embeddings : ndarray, shape (n, d)
        Feature vectors (memory maps welcome).
    tau : float
        Similarity threshold in ``[0, 1)`` (neighbours: ``0.5 + 0.5 * cos > tau``).
    backend : str, default "graph"
        A key of :data:`GRAPH_BACKENDS`: ``"graph"`` (exact, the CPU cluster plan of
        :func:`~prune4rel.neighbors.exact_graph`), ``"torch"`` (exact, low-precision tensor-core
        products with a proven error band, :func:`~prune4rel.neighbors.torch_graph`; the GPU
        path) or ``"faiss"`` (approximate, :func:`~prune4rel.neighbors.faiss_graph`).
    k : int, optional
        Per-row neighbour cap; None gives the backend's default (exact: no cap; faiss: 64).
    device, max_edges, progress
        As in the backend's builder.
    **options
        The backend's own options (exact: ``block_rows``, ``prune``, ...; faiss: ``index``,
        ``nprobe``, ``pca_dim``, ...), checked against its :attr:`GraphBackend.options`.

    Returns
    -------
    CSRGraph
        With ``backend`` and ``k`` (the cap used) recorded.

    Raises
    ------
    ParameterError
        For an unknown backend or option, or a value its rule does not allow.
    GraphTooLargeError
        When the exact graph would exceed ``max_edges``.
    """
    entry = _backend(backend)
    common = validate_params(
        {**GRAPH_RULES, "k": optional(Integer(entry.min_k))},
        {"tau": tau, "k": k, "device": device, "max_edges": max_edges, "progress": progress},
    )
    extra = validate_params(entry.options, options)
    cap = entry.default_k if common["k"] is None else common["k"]
    graph = entry.build(
        embeddings,
        common["tau"],
        cap,
        device=common["device"],
        max_edges=common["max_edges"],
        progress=common["progress"],
        **extra,
    )
    return dataclasses.replace(graph, backend=backend, k=cap)


def check_graph(
    graph: Any, n: int, tau: float, k: int | None, *, backend: str | None = None, tau_from: str = ""
) -> None:
    """Check that a prebuilt graph is the one a selection would build.

    Parameters
    ----------
    graph : CSRGraph
        From :func:`build_graph`.
    n : int
        Number of examples of the selection.
    tau : float
        The threshold the selection uses.
    k : int or None
        The selection's cap (None: the graph backend's default).
    backend : str, optional
        The backend the selection asks for; None accepts any.
    tau_from : str
        Where the selection's ``tau`` comes from, quoted in the error.

    Raises
    ------
    GraphMismatchError
        Naming the first property that differs.
    """
    where = "; build it with prune4rel.neighbors.build_graph(embeddings, tau, backend=..., k=...)"
    if not isinstance(graph, CSRGraph):
        raise GraphMismatchError(f"`graph` must be a CSRGraph, got {type(graph).__name__}{where}")
    if graph.backend not in GRAPH_BACKENDS:
        raise GraphMismatchError(f"`graph` does not record how it was built{where}")
    if graph.n != n:
        raise GraphMismatchError(f"`graph` has {graph.n} nodes but the signals have n = {n} examples")
    if backend is not None and graph.backend != backend:
        raise GraphMismatchError(
            f"`graph` was built with backend={graph.backend!r}, the selector uses {backend!r}"
        )
    if graph.tau != tau:
        raise GraphMismatchError(
            f"`graph` was built with tau={graph.tau!r}, the selection uses tau={tau!r}{tau_from}"
        )
    cap = GRAPH_BACKENDS[graph.backend].default_k if k is None else k
    if graph.k != cap:
        raise GraphMismatchError(f"`graph` was built with k={graph.k!r}, the selector uses k={cap!r}")
