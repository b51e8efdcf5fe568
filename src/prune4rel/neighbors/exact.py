"""Exact tau-neighbour graphs by blocked matrix products.

Two examples are neighbours when ``sim = 0.5 + 0.5 * cos > tau``. Similarities are computed
tile by tile in float32 (numpy/BLAS on the CPU, torch on a CUDA device), only the upper
triangle (the graph is symmetric), so memory stays bounded by one tile plus the edges.

Exactness: float32 products of unit vectors are within ``(d + 2) * 2**-24`` of the exact
cosine, whatever the summation order. Pairs whose float32 cosine lies within that margin of
the threshold are re-computed in float64 and decided there, so the edge set equals the one
defined by float64 arithmetic (up to float64 rounding of values exactly at ``tau``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from prune4rel.neighbors.clusters import ClusterPlan
from prune4rel.neighbors.graph import CSRGraph
from prune4rel.neighbors.similarity import (
    GraphTooLargeError,
    assemble_graph,
    check_device,
    check_k,
    check_tau,
    cosine_margin,
    refine_pairs,
    sparse_nonzero,
    unit_rows,
)
from prune4rel.validation import Integer, Options, Rule, optional, validate_params

__all__ = ["exact_graph"]


class _TileProducts:
    """float32 products ``unit[i0:i1] @ unit[j0:j1].T`` on the CPU (BLAS) or a CUDA device."""

    def __init__(self, unit: np.ndarray, device: torch.device) -> None:
        self.unit = unit
        self.on_cuda = device.type == "cuda"
        if self.on_cuda:
            self.tensor = torch.from_numpy(unit).to(device)

    def candidates(
        self, i0: int, i1: int, j0: int, j1: int, lower: float
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Yield (rows, cols, cos32) of tile pairs with cosine above ``lower``."""
        if self.on_cuda:
            prev = torch.get_float32_matmul_precision()
            torch.set_float32_matmul_precision("highest")  # no TF32: the error bound needs fp32
            try:
                tile = self.tensor[i0:i1] @ self.tensor[j0:j1].T
            finally:
                torch.set_float32_matmul_precision(prev)
            r, c = torch.nonzero(tile > lower, as_tuple=True)
            vals = tile[r, c]
            yield r.cpu().numpy() + i0, c.cpu().numpy() + j0, vals.cpu().numpy()
        else:
            products = self.unit[i0:i1] @ self.unit[j0:j1].T
            rows, cols = sparse_nonzero(products > lower)
            yield rows + i0, cols + j0, products[rows, cols]


def _tiled_pairs(
    products: _TileProducts, n: int, block_rows: int, block_cols: int, lower: float, progress: bool
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every pair ``r < c`` with float32 cosine above ``lower``, tile by tile (upper triangle)."""
    tiles = [(i0, j0) for i0 in range(0, n, block_rows) for j0 in range(i0, n, block_cols)]
    for i0, j0 in tqdm(tiles, desc="neighbour graph", unit="tile", disable=not progress):
        i1, j1 = min(i0 + block_rows, n), min(j0 + block_cols, n)
        for r, c, cos32 in products.candidates(i0, i1, j0, j1, lower):
            upper = c > r
            yield r[upper], c[upper], cos32[upper]


def _pair_source(
    unit: np.ndarray, valid: np.ndarray, lower: float, margin: float, prune: str, clusters: int | None,
    block_rows: int, block_cols: int, device: torch.device, progress: bool,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The candidate pairs of :func:`exact_graph`: from a cluster plan, or from every tile."""
    n = unit.shape[0]
    if prune == "clusters" or (prune == "auto" and device.type == "cpu" and n >= 8192):
        with tqdm(total=1, desc="neighbour graph: clustering", unit="plan", disable=not progress) as bar:
            plan = ClusterPlan(unit, valid, lower, margin, clusters, block_rows)
            bar.update(1)
        if prune == "clusters" or plan.work < 0.5 * n * (n - 1) / 2:
            return plan.pairs(progress)
    return _tiled_pairs(_TileProducts(unit, device), n, block_rows, block_cols, lower, progress)


#: :func:`exact_graph`'s own options and what each allows (also ``build_graph``'s, backend "graph").
EXACT_OPTIONS: dict[str, Rule] = {
    "block_rows": Integer(1),
    "block_cols": Integer(1),
    "prune": Options("auto", "clusters", "none"),
    "clusters": optional(Integer(1)),
}


def exact_graph(
    embeddings: np.ndarray,
    tau: float = 0.975,
    k: int | None = None,
    *,
    block_rows: int = 2048,
    block_cols: int = 16384,
    device: str = "cpu",
    prune: str = "auto",
    clusters: int | None = None,
    max_edges: int = 400_000_000,
    progress: bool = False,
) -> CSRGraph:
    """Build the exact tau-neighbour graph of ``embeddings``.

    Parameters
    ----------
    embeddings : ndarray, shape (n, d)
        Feature vectors (any float dtype, memory maps welcome).
    tau : float
        Similarity threshold in ``[0, 1)``: ``x``, ``s`` are neighbours when
        ``0.5 + 0.5 * cos(x, s) > tau``.
    k : int, optional
        Keep at most the ``k`` most similar neighbours of each node besides itself (ties:
        lower index). The capped graph is no longer symmetric. None keeps all.
    block_rows, block_cols : int
        Tile shape; a tile of float32 products takes ``4 * block_rows * block_cols`` bytes.
    device : str
        ``"cpu"`` or a torch CUDA device such as ``"cuda"`` / ``"cuda:1"``.
    prune : {"auto", "clusters", "none"}
        ``"clusters"`` skips the products of pairs that the triangle inequality on angles
        to spherical k-means centroids rules out (exact: the same graph, often far less
        work on clustered embeddings); ``"none"`` computes every product of the upper
        triangle; ``"auto"`` prunes on the CPU from 8,192 examples on, when the pruning
        saves at least half of the products.
    clusters : int, optional
        Number of centroids for pruning (default :func:`default_clusters`: ``sqrt(n)``, or
        ``n / 32`` from 1,024 rows on; two-level k-means above 1,024 centroids).
    max_edges : int
        Refuse (:class:`GraphTooLargeError`, a ValueError) to build a graph with more
        directed edges than this.
    progress : bool
        Show a progress bar over tiles (and the cluster plan and the assembly before and
        after them).

    Returns
    -------
    CSRGraph
        Symmetric when ``k`` is None. Zero-norm embeddings only neighbour themselves.

    Notes
    -----
    Memory: one float32 copy of the unit rows (``4 n d`` bytes; the cluster plan gathers
    its blocks from it rather than keeping a re-ordered second copy), one tile of products,
    and the edges. A memory-mapped ``embeddings`` (``np.load(path, mmap_mode="r")``) is read
    chunk by chunk and, afterwards, only at the rows of near-threshold pairs.
    """
    tau = check_tau(tau)
    k = check_k(k)
    opts = validate_params(EXACT_OPTIONS, {
        "block_rows": block_rows, "block_cols": block_cols, "prune": prune, "clusters": clusters,
    })
    block_rows, block_cols, clusters = opts["block_rows"], opts["block_cols"], opts["clusters"]
    unit, norms = unit_rows(embeddings)
    n, d = unit.shape
    valid = norms > 0
    margin = cosine_margin(d)
    lower = 2.0 * tau - 1.0 - margin
    dev = check_device(device)
    index = np.int32 if n < 2**31 else np.int64
    pairs = _pair_source(unit, valid, lower, margin, prune, clusters, block_rows, block_cols, dev, progress)

    rows_parts: list[np.ndarray] = []
    cols_parts: list[np.ndarray] = []
    cos_parts: list[np.ndarray] = []
    total = 0
    for r, c, cos32 in pairs:
        ok = valid[r] & valid[c]
        r, c, cos32 = r[ok], c[ok], cos32[ok]
        keep, cos = refine_pairs(embeddings, norms, r, c, cos32, tau, margin)
        rows_parts.append(r[keep].astype(index))
        cols_parts.append(c[keep].astype(index))
        cos_parts.append(cos[keep])
        total += 2 * int(keep.sum())
        if total > max_edges:
            raise GraphTooLargeError(tau, max_edges)
    del unit, pairs  # the unit rows (4 n d bytes) are not needed for the sparse matrix
    upper_r = np.concatenate(rows_parts) if rows_parts else np.empty(0, index)
    upper_c = np.concatenate(cols_parts) if cols_parts else np.empty(0, index)
    upper_s = (0.5 + 0.5 * np.concatenate(cos_parts)) if cos_parts else np.empty(0)
    del rows_parts, cols_parts, cos_parts
    with tqdm(total=1, desc="neighbour graph: assembling", unit="graph", disable=not progress) as bar:
        graph = assemble_graph(n, upper_r, upper_c, upper_s, tau, k)
        bar.update(1)
    return graph
