"""The cluster plan of the exact CPU graph: pairs ruled out by angles to k-means centroids.

Spherical k-means groups the unit rows; the triangle inequality on angles then proves that
most pairs of distant clusters cannot be tau-neighbours, so their products are skipped. The
plan is exact: it only removes pairs that cannot pass the threshold.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from tqdm.auto import tqdm

from prune4rel.neighbors.similarity import sparse_nonzero

__all__ = ["TWO_LEVEL_FROM", "ClusterPlan", "default_clusters", "spherical_kmeans"]


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


class ClusterPlan:
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
