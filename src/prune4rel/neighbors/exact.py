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
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from prune4rel.neighbors.graph import CSRGraph

__all__ = [
    "check_device",
    "check_tau",
    "cosine_margin",
    "default_clusters",
    "exact_graph",
    "refine_pairs",
    "sparse_nonzero",
    "spherical_kmeans",
    "unit_rows",
]


def check_tau(tau: float) -> float:
    """Validate a similarity threshold ``tau`` in ``[0, 1)`` and return it as float."""
    value = float(tau)
    if not np.isfinite(value) or not 0.0 <= value < 1.0:
        raise ValueError(f"`tau` must be in [0, 1) (similarity 0.5 + 0.5*cos), got {tau!r}")
    return value


def check_device(device: str) -> torch.device:
    """Validate a compute device for similarity products ("cpu", "cuda", "cuda:N")."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"`device` must be 'cpu' or a CUDA device like 'cuda:0', got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"`device` is {device!r} but no CUDA device is available; use device='cpu'")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"`device` must be 'cpu' or a CUDA device, got {device!r}")
    return dev


def cosine_margin(dim: int) -> float:
    """Bound on the float32 error of a cosine between two unit vectors of ``dim`` features."""
    return 1.1 * (dim + 2) * 2.0**-24 + 1e-7


def unit_rows(embeddings: np.ndarray, chunk: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Row-normalised float32 copy of ``embeddings`` and the float64 row norms.

    Parameters
    ----------
    embeddings : ndarray, shape (n, d)
        Any float dtype; may be a memory map (it is read chunk by chunk).
    chunk : int
        Rows normalised at a time (bounds the float64 temporary).

    Returns
    -------
    unit : ndarray of float32, shape (n, d)
        ``e / ||e||``; zero rows stay zero.
    norms : ndarray of float64, shape (n,)

    Raises
    ------
    ValueError
        If ``embeddings`` is not 2-D, is empty or holds NaN/inf.
    """
    emb = np.asarray(embeddings)
    if emb.ndim != 2 or emb.shape[0] == 0 or emb.shape[1] == 0:
        raise ValueError(f"`embeddings` must be a non-empty (n, d) array, got shape {emb.shape}")
    n, d = emb.shape
    unit = np.empty((n, d), dtype=np.float32)
    norms = np.empty(n, dtype=np.float64)
    for lo in range(0, n, chunk):
        block = np.asarray(emb[lo : lo + chunk], dtype=np.float64)
        if not np.all(np.isfinite(block)):
            raise ValueError("`embeddings` contains NaN or infinite values")
        nrm = np.sqrt(np.einsum("ij,ij->i", block, block))
        norms[lo : lo + chunk] = nrm
        safe = np.where(nrm > 0, nrm, 1.0)
        unit[lo : lo + chunk] = block / safe[:, None]
    return unit, norms


def refine_pairs(
    embeddings: np.ndarray,
    norms: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    cos32: np.ndarray,
    tau: float,
    margin: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Decide candidate pairs exactly: float32 cosines near the threshold are redone in float64.

    Parameters
    ----------
    embeddings : ndarray, shape (n, d)
        Original embeddings (read only at the rows of re-checked pairs).
    norms : ndarray of float64, shape (n,)
    rows, cols : ndarray of int, shape (m,)
        Candidate pairs; both endpoints must have non-zero norm.
    cos32 : ndarray of float32, shape (m,)
        Their float32 cosines.
    tau : float
        Similarity threshold.
    margin : float
        Error bound of ``cos32`` (see :func:`cosine_margin`).

    Returns
    -------
    keep : ndarray of bool, shape (m,)
        ``0.5 + 0.5 * cos > tau`` decided in float64 where float32 could not decide.
    cos : ndarray of float64, shape (m,)
        Cosines: float64 where re-computed, else the float32 values.
    """
    cos = cos32.astype(np.float64)
    threshold = 2.0 * tau - 1.0
    keep = cos > threshold
    band = np.flatnonzero(np.abs(cos - threshold) <= margin)
    if band.size:
        a = np.asarray(embeddings[rows[band]], dtype=np.float64) / norms[rows[band], None]
        b = np.asarray(embeddings[cols[band]], dtype=np.float64) / norms[cols[band], None]
        exact = np.einsum("ij,ij->i", a, b)
        cos[band] = exact
        keep[band] = 0.5 + 0.5 * exact > tau
    return keep, cos


class _TileProducts:
    """float32 products ``unit[i0:i1] @ unit[j0:j1].T`` on the CPU (BLAS) or a CUDA device."""

    def __init__(self, unit: np.ndarray, device: str) -> None:
        self.unit = unit
        self.on_cuda = check_device(device).type == "cuda"
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


def sparse_nonzero(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column ids of the True entries of a sparse 2-D boolean array.

    Same result as :func:`numpy.nonzero`, several times faster when few entries are set: it
    scans the mask eight bytes at a time and expands only the non-zero words.
    """
    cols = mask.shape[1]
    flat = np.ascontiguousarray(mask).reshape(-1).view(np.uint8)
    whole = flat.size - flat.size % 8
    words = np.flatnonzero(flat[:whole].view(np.uint64))
    pos = (words[:, None] * 8 + np.arange(8)).reshape(-1)
    pos = pos[flat[pos] != 0]
    tail = whole + np.flatnonzero(flat[whole:])
    pos = np.concatenate([pos, tail])
    return pos // cols, pos % cols


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


TWO_LEVEL_FROM = 1024
"""Above this many centroids the cluster plan uses two-level k-means."""


def default_clusters(m: int) -> int:
    """Centroids of the cluster plan for ``m`` rows: ``sqrt(m)``, or ``m / 32`` when larger.

    About 32 rows per cluster keeps clusters tight at large ``m``, where ``sqrt(m)``
    clusters would each mix several dense regions and prune little (measured on the
    1,000-class synthetic embeddings of ``benchmarks/bench_scale.py`` at 200k rows: 19% of
    all pairs compared with ``sqrt(m)`` centroids, 2.6% with ``m / 32``).
    """
    return max(1, int(np.sqrt(m)), m // 32)


def spherical_kmeans(
    unit: np.ndarray, clusters: int, seed: int = 0, iters: int = 6, rows: np.ndarray | None = None
) -> np.ndarray:
    """Unit-norm centroids (clusters, d) of unit rows by a few Lloyd steps on a sample.

    Parameters
    ----------
    unit : ndarray of float32, shape (n, d)
        Unit rows (only a sample of ``32 * clusters`` of them is read).
    clusters : int
        Number of centroids, at most the number of rows considered.
    seed : int
        Seed of the sample and of the initial centroids.
    iters : int
        Lloyd steps.
    rows : ndarray of int, optional
        Consider only these rows of ``unit`` (default: all).
    """
    rng = np.random.default_rng(seed)
    pool = np.arange(unit.shape[0]) if rows is None else np.asarray(rows)
    sample = unit[np.sort(rng.choice(pool, size=min(pool.size, 32 * clusters), replace=False))]
    cent = sample[rng.choice(sample.shape[0], size=clusters, replace=False)].astype(np.float64)
    for _ in range(iters):
        assign = np.argmax(sample @ cent.T.astype(np.float32), axis=1)
        order = np.argsort(assign, kind="stable")
        used, first = np.unique(assign[order], return_index=True)
        sums = np.zeros((clusters, sample.shape[1]), dtype=np.float64)
        sums[used] = np.add.reduceat(sample[order].astype(np.float64), first, axis=0)
        empty = np.linalg.norm(sums, axis=1) == 0
        sums[empty] = sample[rng.choice(sample.shape[0], size=int(empty.sum()))]
        cent = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    return cent.astype(np.float32)


def _assign(
    unit: np.ndarray, ids: np.ndarray, cent: np.ndarray, chunk: int = 16384
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid of each row ``unit[ids]`` and the cosine to it (float64)."""
    assign = np.empty(ids.size, dtype=np.int64)
    own = np.empty(ids.size, dtype=np.float64)
    for lo in range(0, ids.size, chunk):
        sims = unit[ids[lo : lo + chunk]] @ cent.T
        best = np.argmax(sims, axis=1)
        assign[lo : lo + chunk] = best
        own[lo : lo + chunk] = sims[np.arange(best.size), best]
    return assign, own


def _two_level_clusters(
    unit: np.ndarray, ids: np.ndarray, clusters: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centroids, assignment and own cosine of ``unit[ids]`` by two-level spherical k-means.

    ``sqrt(clusters)`` coarse centroids split the rows; each coarse group then gets its own
    k-means with a share of ``clusters`` proportional to its size, and its rows are assigned
    to the nearest of *those* centroids only. Costs ``O(m sqrt(clusters) d)`` instead of
    ``O(m clusters d)``; the pruning bounds hold for any assignment, so exactness does not
    depend on it being the globally nearest centroid.

    Returns
    -------
    cent : ndarray of float32, shape (k, d)
    assign : ndarray of int64, shape (m,)
    own : ndarray of float64, shape (m,)
        Cosine of each row to its assigned centroid.
    """
    m = ids.size
    top = max(1, min(int(np.ceil(np.sqrt(clusters))), m))
    coarse_assign, _ = _assign(unit, ids, spherical_kmeans(unit, top, seed, rows=ids))
    order = np.argsort(coarse_assign, kind="stable")
    bounds = np.searchsorted(coarse_assign[order], np.arange(top + 1))
    cents: list[np.ndarray] = []
    assign = np.empty(m, dtype=np.int64)
    own = np.empty(m, dtype=np.float64)
    offset = 0
    for g in range(top):
        pos = order[bounds[g] : bounds[g + 1]]
        if pos.size == 0:
            continue
        share = max(1, min(pos.size, round(clusters * pos.size / m)))
        cent = spherical_kmeans(unit, share, seed + 1 + g, rows=ids[pos])
        local, cos = _assign(unit, ids[pos], cent)
        assign[pos] = local + offset
        own[pos] = cos
        cents.append(cent)
        offset += cent.shape[0]
    return np.concatenate(cents), assign, own


class _ClusterPlan:
    """Which products the exact graph needs, after ruling pairs out by angles to centroids.

    Points are grouped by spherical k-means (two-level for many clusters). Angular distance
    is a metric, so for a point ``x``, a centroid ``c`` and any ``y`` of that cluster,
    ``angle(x, y) >= angle(x, c) - angle(y, c)``. A pair can only have ``cos > lower``
    (angle below ``theta``) when ``angle(y, c) > angle(x, c) - theta``: with each cluster's
    members sorted by their angle to the centroid (largest first), the candidates of a row
    block form a prefix of each cluster, and whole clusters drop out. Before any row is
    compared with a centroid, clusters are ruled out for a whole block by the centroids
    alone: ``angle(x, c_b) >= angle(c_a, c_b) - angle(x, c_a)``, so with ``r`` the largest
    member angle of a block of cluster ``a`` and ``R_b`` the radius of cluster ``b``, no pair
    exists when ``angle(c_a, c_b) - r - R_b >= theta``. ``eps`` covers the float32 error of
    the angles.

    The plan keeps a reference to ``unit`` (original order) and gathers the rows of each
    block through ``ids``, so it adds no second ``n x d`` copy of the embeddings.

    Attributes
    ----------
    ids : ndarray of int64, shape (m,)
        Original id of each position in cluster order.
    blocks : list of (lo, hi, first, last)
        Rows ``lo:hi`` (positions in cluster order) are compared with the columns
        ``first[j]:last[j]`` for every ``j``.
    work : int
        Number of products the plan computes.
    """

    def __init__(
        self,
        unit: np.ndarray,
        valid: np.ndarray,
        lower: float,
        margin: float,
        clusters: int | None,
        block_rows: int,
    ) -> None:
        ids = np.flatnonzero(valid)
        m = ids.size
        k = min(int(clusters) if clusters else default_clusters(m), max(m, 1))
        if m == 0:
            cent, assign, own = np.zeros((1, unit.shape[1]), np.float32), np.empty(0, np.int64), np.empty(0)
        elif k > TWO_LEVEL_FROM:
            cent, assign, own = _two_level_clusters(unit, ids, k)
        else:
            cent = spherical_kmeans(unit, k, rows=ids)
            assign, own = _assign(unit, ids, cent)
        k = cent.shape[0]
        theta_own = np.arccos(np.clip(own, -1.0, 1.0))
        order = np.lexsort((-theta_own, assign))
        self.ids = ids[order]
        self.unit = unit
        theta_sorted = theta_own[order]
        starts = np.searchsorted(assign[order], np.arange(k + 1))
        radius = np.full(k, -np.inf)
        nonempty = starts[1:] > starts[:-1]
        radius[nonempty] = theta_sorted[starts[:-1][nonempty]]
        theta = float(np.arccos(np.clip(lower, -1.0, 1.0)))
        eps = 4.0 * np.sqrt(2.0 * margin) + 1e-6
        self.lower = lower
        # segment b of ``keys`` holds ``10 b - angle`` in ascending order (angles lie in [0, pi]),
        # so one searchsorted counts, for every candidate cluster at once, its members whose
        # angle exceeds a per-cluster bound
        keys = 10.0 * assign[order] - theta_sorted
        self.blocks: list[tuple[int, int, np.ndarray, np.ndarray]] = []
        self.work = 0
        # cluster-level test, 256 clusters ``a`` at a time, without arccos: with s = R_a +
        # theta + 2 eps, angle(c_a, c_b) < R_b + s holds when R_b + s >= pi, or else when
        # cos(c_a, c_b) + margin > cos(R_b + s) = cos R_b cos s - sin R_b sin s
        spread = np.maximum(radius, 0.0)  # empty clusters: 0 (they are masked out below)
        cos_r, sin_r = np.cos(spread), np.sin(spread)
        for a0 in range(0, k, 256):
            a1 = min(a0 + 256, k)
            reach = spread[a0:a1, None] + (theta + 2 * eps)
            bound = cos_r[None, a0:] * np.cos(reach) - sin_r[None, a0:] * np.sin(reach)
            close = (spread[None, a0:] + reach >= np.pi) | (cent[a0:a1] @ cent[a0:].T + margin > bound)
            close &= nonempty[None, a0:] & (np.arange(k - a0)[None, :] > np.arange(a1 - a0)[:, None])
            row_of, col_of = np.nonzero(close)
            split = np.searchsorted(row_of, np.arange(a1 - a0 + 1))
            for a in range(a0, a1):
                candidates = a0 + col_of[split[a - a0] : split[a - a0 + 1]]
                for lo in range(starts[a], starts[a + 1], block_rows):
                    hi = min(lo + block_rows, starts[a + 1])
                    near = candidates
                    ends = starts[near]
                    if near.size:
                        closest = (unit[self.ids[lo:hi]] @ cent[near].T).max(axis=0).astype(np.float64)
                        floor = np.arccos(np.clip(closest, -1.0, 1.0)) - theta - eps
                        keep = floor < radius[near]  # only members above ``floor`` may pair
                        near, floor = near[keep], floor[keep]
                        ends = np.searchsorted(keys, 10.0 * near - floor, side="left")
                        ends = np.clip(ends, starts[near], starts[near + 1])
                        hit = ends > starts[near]
                        near, ends = near[hit], ends[hit]
                    first = np.concatenate([[lo], starts[near]])
                    last = np.concatenate([[starts[a + 1]], ends])
                    self.blocks.append((lo, hi, first, last))
                    self.work += (hi - lo) * int((last - first).sum())

    def pairs(self, progress: bool) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Pairs ``r < c`` (original ids) with float32 cosine above ``lower``."""
        bar = tqdm(self.blocks, desc="neighbour graph", unit="block", disable=not progress)
        for lo, hi, first, last in bar:
            rows = self.unit[self.ids[lo:hi]]
            sizes = last - first
            cols = np.repeat(first - np.cumsum(sizes) + sizes, sizes) + np.arange(sizes.sum())
            for c0 in range(0, cols.size, 32768):
                part = cols[c0 : c0 + 32768]
                tile = rows @ self.unit[self.ids[part]].T
                r, c = sparse_nonzero(tile > self.lower)
                rp, cp = lo + r, part[c]
                upper = cp > rp
                r_ids, c_ids = self.ids[rp[upper]], self.ids[cp[upper]]
                yield np.minimum(r_ids, c_ids), np.maximum(r_ids, c_ids), tile[r[upper], c[upper]]


def _pair_source(
    unit: np.ndarray, valid: np.ndarray, lower: float, margin: float, prune: str, clusters: int | None,
    block_rows: int, block_cols: int, device: str, progress: bool,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The candidate pairs of :func:`exact_graph`: from a cluster plan, or from every tile."""
    n = unit.shape[0]
    if prune == "clusters" or (prune == "auto" and check_device(device).type == "cpu" and n >= 8192):
        plan = _ClusterPlan(unit, valid, lower, margin, clusters, block_rows)
        if prune == "clusters" or plan.work < 0.5 * n * (n - 1) / 2:
            return plan.pairs(progress)
    return _tiled_pairs(_TileProducts(unit, device), n, block_rows, block_cols, lower, progress)


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
        Refuse (ValueError) to build a graph with more directed edges than this.
    progress : bool
        Show a progress bar over tiles.

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
    if k is not None and (isinstance(k, bool) or int(k) != k or k < 0):
        raise ValueError(f"`k` must be a non-negative integer or None, got {k!r}")
    if block_rows < 1 or block_cols < 1:
        raise ValueError("`block_rows` and `block_cols` must be positive")
    unit, norms = unit_rows(embeddings)
    n, d = unit.shape
    valid = norms > 0
    margin = cosine_margin(d)
    lower = 2.0 * tau - 1.0 - margin
    if prune not in ("auto", "clusters", "none"):
        raise ValueError(f"`prune` must be 'auto', 'clusters' or 'none', got {prune!r}")
    check_device(device)
    index = np.int32 if n < 2**31 else np.int64
    pairs = _pair_source(
        unit, valid, lower, margin, prune, clusters, block_rows, block_cols, device, progress
    )

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
            raise ValueError(
                f"the tau={tau} graph has more than max_edges={max_edges} edges; "
                "raise `tau`, cap the degree with `k`, or use backend='dense'"
            )
    del unit, pairs  # the unit rows (4 n d bytes) are not needed for the sparse matrix
    upper_r = np.concatenate(rows_parts) if rows_parts else np.empty(0, index)
    upper_c = np.concatenate(cols_parts) if cols_parts else np.empty(0, index)
    upper_s = (0.5 + 0.5 * np.concatenate(cos_parts)) if cos_parts else np.empty(0)
    del rows_parts, cols_parts, cos_parts
    rows = np.concatenate([upper_r, upper_c])
    cols = np.concatenate([upper_c, upper_r])
    sims = np.concatenate([upper_s, upper_s])
    del upper_r, upper_c, upper_s
    if k is not None:
        rows, cols, sims = _cap_rows(rows, cols, sims, int(k))
    self_ids = np.arange(n, dtype=index)
    mat = sp.csr_matrix(
        (
            np.concatenate([sims, np.ones(n)]).astype(np.float32),
            (np.concatenate([rows, self_ids]), np.concatenate([cols, self_ids])),
        ),
        shape=(n, n),
    )
    return CSRGraph.from_scipy(mat, tau, symmetric=k is None)


def _cap_rows(
    rows: np.ndarray, cols: np.ndarray, sims: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep the ``k`` most similar entries of each row (ties: lower column id)."""
    order = np.lexsort((cols, -sims, rows))
    rows, cols, sims = rows[order], cols[order], sims[order]
    starts = np.searchsorted(rows, rows, side="left")
    rank = np.arange(rows.shape[0]) - starts
    keep = rank < k
    return rows[keep], cols[keep], sims[keep]
