"""Neighbour graphs: which examples lie within a similarity threshold of each other.

Backends, all returning a :class:`CSRGraph`: :func:`exact_graph` (blocked products with
exact cluster pruning; every tau-neighbour, or the ``k`` nearest of them), :func:`torch_graph`
(the same graph from float16/bfloat16 tensor-core products on a GPU, or torch on the CPU) and
:func:`faiss_graph` (the tau-neighbours among the ``k`` nearest found by a faiss flat, IVF or
HNSW index; optional, needs faiss), whose quality :func:`neighbor_recall` measures against
the exact definition on sampled rows. Both read memory-mapped embeddings chunk by chunk.
:func:`build_graph` builds with a backend named by a string and records on the graph how it
was built (tau, backend, k), so that it can be built once and reused (:func:`check_graph`).
:func:`calibrate_tau` picks the threshold that gives a wanted mean neighbourhood size.
"""

from prune4rel.neighbors.build import (
    GRAPH_BACKENDS,
    GraphMismatchError,
    build_graph,
    check_graph,
)
from prune4rel.neighbors.calibrate import calibrate_tau
from prune4rel.neighbors.exact import exact_graph
from prune4rel.neighbors.faiss_backend import faiss_graph, neighbor_recall
from prune4rel.neighbors.graph import CSRGraph
from prune4rel.neighbors.rows import DenseRows, GraphRows
from prune4rel.neighbors.similarity import (
    GraphTooLargeError,
    check_device,
    check_tau,
    cosine_margin,
    refine_pairs,
    unit_rows,
)
from prune4rel.neighbors.torch_backend import torch_graph

__all__ = [
    "GRAPH_BACKENDS",
    "CSRGraph",
    "DenseRows",
    "GraphMismatchError",
    "GraphRows",
    "GraphTooLargeError",
    "build_graph",
    "calibrate_tau",
    "check_device",
    "check_graph",
    "check_tau",
    "cosine_margin",
    "exact_graph",
    "faiss_graph",
    "neighbor_recall",
    "refine_pairs",
    "torch_graph",
    "unit_rows",
]
