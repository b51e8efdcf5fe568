"""Neighbour graphs: which examples lie within a similarity threshold of each other."""

from prune4rel.neighbors.exact import (
    check_device,
    check_tau,
    cosine_margin,
    exact_graph,
    refine_pairs,
    unit_rows,
)
from prune4rel.neighbors.graph import CSRGraph
from prune4rel.neighbors.rows import DenseRows, GraphRows

__all__ = [
    "CSRGraph",
    "DenseRows",
    "GraphRows",
    "check_device",
    "check_tau",
    "cosine_margin",
    "exact_graph",
    "refine_pairs",
    "unit_rows",
]
