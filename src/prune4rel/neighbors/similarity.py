"""Similarity helpers shared by every neighbour backend.

``sim = 0.5 + 0.5 * cos``. The backends compute cosines of unit rows in low precision,
keep every pair above ``2 tau - 1 - margin`` and let :func:`refine_pairs` decide the pairs
within ``margin`` of the threshold in float64; :func:`assemble_graph` turns the kept pairs of
the upper triangle into the symmetric (or ``k``-capped) :class:`CSRGraph` with self-loops.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from prune4rel.devices import DeviceError, resolve_device
from prune4rel.neighbors.graph import CSRGraph

__all__ = [
    "GraphTooLargeError",
    "assemble_graph",
    "cap_rows",
    "check_device",
    "check_k",
    "check_tau",
    "cosine_margin",
    "refine_pairs",
    "sparse_nonzero",
    "unit64",
    "unit_rows",
]

#: Row norms below this lost precision in their float64 sum of squares (it underflowed).
_SMALL_NORM = float(np.sqrt(np.finfo(np.float64).tiny))


class GraphTooLargeError(ValueError):
    """The tau-graph would hold more edges than the caller's ``max_edges``."""

    def __init__(self, tau: float, max_edges: int) -> None:
        super().__init__(
            f"the tau={tau} graph has more than max_edges={max_edges} edges; "
            "raise `tau`, cap the degree with `k`, or use backend='dense'"
        )
        self.tau = tau
        self.max_edges = max_edges


def check_tau(tau: float) -> float:
    """Validate a similarity threshold ``tau`` in ``[0, 1)`` and return it as float."""
    value = float(tau)
    if not np.isfinite(value) or not 0.0 <= value < 1.0:
        raise ValueError(f"`tau` must be in [0, 1) (similarity 0.5 + 0.5*cos), got {tau!r}")
    return value


def check_device(device: str | torch.device) -> torch.device:
    """A compute device for similarity products ("cpu", "auto", "cuda", "cuda:N"), resolved
    once (:func:`prune4rel.devices.resolve_device`: a bare "cuda" becomes ``cuda:N``).

    Raises
    ------
    ValueError
        Naming ``device``: not a device, not the CPU or CUDA, or a GPU that is not visible.
    """
    dev = resolve_device(device)
    if dev.type not in ("cpu", "cuda"):
        raise DeviceError("device", device, "'cpu', 'auto' or a CUDA device ('cuda', 'cuda:N')")
    return dev


def cosine_margin(dim: int) -> float:
    """Bound on the float32 error of a cosine between two unit vectors of ``dim`` features."""
    return 1.1 * (dim + 2) * 2.0**-24 + 1e-7


def unit64(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 unit rows and row norms of a float64 ``block``, without overflow or underflow.

    Rows of ordinary magnitude take ``e / sqrt(sum(e**2))``; rows whose sum of squares
    overflows or underflows float64 (entries near 1e155 or 1e-155 and beyond) are divided
    by their largest magnitude first. Zero rows stay zero, with norm 0.

    Parameters
    ----------
    block : ndarray of float64, shape (m, d)
        Finite values.

    Returns
    -------
    unit : ndarray of float64, shape (m, d)
    norms : ndarray of float64, shape (m,)
        ``inf`` only for a row whose norm itself exceeds the float64 range.
    """
    norms = np.sqrt(np.einsum("ij,ij->i", block, block))
    unit = block / np.where(norms > 0, norms, 1.0)[:, None]
    bad = np.flatnonzero(~np.isfinite(norms) | (norms < _SMALL_NORM))
    if bad.size:
        sub = block[bad]
        top = np.abs(sub).max(axis=1)
        live = top > 0
        scaled = sub[live] / top[live, None]
        length = np.sqrt(np.einsum("ij,ij->i", scaled, scaled))
        unit[bad[live]] = scaled / length[:, None]
        with np.errstate(over="ignore"):
            norms[bad[live]] = top[live] * length
    return unit, norms


def unit_rows(embeddings: np.ndarray, chunk: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Row-normalised float32 copy of ``embeddings`` and the float64 row norms.

    Parameters
    ----------
    embeddings : ndarray, shape (n, d)
        Any float dtype and any finite magnitude (see :func:`unit64`); may be a memory
        map (it is read chunk by chunk).
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
        unit[lo : lo + chunk], norms[lo : lo + chunk] = unit64(block)
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


def check_k(k: int | None) -> int | None:
    """Validate a per-row neighbour cap ``k`` (a non-negative integer or None)."""
    if k is None:
        return None
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
        raise ValueError(f"`k` must be a non-negative integer or None, got {k!r}")
    return int(k)


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


def cap_rows(
    rows: np.ndarray, cols: np.ndarray, sims: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep the ``k`` most similar entries of each row (ties: lower column id)."""
    order = np.lexsort((cols, -sims, rows))
    rows, cols, sims = rows[order], cols[order], sims[order]
    starts = np.searchsorted(rows, rows, side="left")
    rank = np.arange(rows.shape[0]) - starts
    keep = rank < k
    return rows[keep], cols[keep], sims[keep]


def assemble_graph(
    n: int, upper_rows: np.ndarray, upper_cols: np.ndarray, upper_sims: np.ndarray, tau: float,
    k: int | None,
) -> CSRGraph:
    """The graph of ``n`` nodes from its kept pairs ``r < c`` of the upper triangle.

    Each pair becomes two directed edges, rows are capped to their ``k`` most similar
    entries when ``k`` is set (the graph is then no longer symmetric), and every node gets
    its self-loop of similarity 1.

    Parameters
    ----------
    n : int
    upper_rows, upper_cols : ndarray of int, shape (m,)
    upper_sims : ndarray of float, shape (m,)
        ``0.5 + 0.5 * cos`` of each pair.
    tau : float
    k : int or None
    """
    index = np.int32 if n < 2**31 else np.int64
    rows = np.concatenate([upper_rows, upper_cols]).astype(index, copy=False)
    cols = np.concatenate([upper_cols, upper_rows]).astype(index, copy=False)
    sims = np.concatenate([upper_sims, upper_sims])
    if k is not None:
        rows, cols, sims = cap_rows(rows, cols, sims, int(k))
    self_ids = np.arange(n, dtype=index)
    mat = sp.csr_matrix(
        (
            np.concatenate([sims, np.ones(n)]).astype(np.float32),
            (np.concatenate([rows, self_ids]), np.concatenate([cols, self_ids])),
        ),
        shape=(n, n),
    )
    return CSRGraph.from_scipy(mat, tau, symmetric=k is None)
