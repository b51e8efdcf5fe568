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
    "exact_graph",
    "refine_pairs",
    "sparse_nonzero",
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
            tile = self.unit[i0:i1] @ self.unit[j0:j1].T
            r, c = sparse_nonzero(tile > lower)
            yield r + i0, c + j0, tile[r, c]


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


def exact_graph(
    embeddings: np.ndarray,
    tau: float = 0.975,
    k: int | None = None,
    *,
    block_rows: int = 2048,
    block_cols: int = 16384,
    device: str = "cpu",
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
    max_edges : int
        Refuse (ValueError) to build a graph with more directed edges than this.
    progress : bool
        Show a progress bar over tiles.

    Returns
    -------
    CSRGraph
        Symmetric when ``k`` is None. Zero-norm embeddings only neighbour themselves.
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
    products = _TileProducts(unit, device)

    rows_parts: list[np.ndarray] = []
    cols_parts: list[np.ndarray] = []
    cos_parts: list[np.ndarray] = []
    total = 0
    tiles = [(i0, j0) for i0 in range(0, n, block_rows) for j0 in range(i0, n, block_cols)]
    for i0, j0 in tqdm(tiles, desc="neighbour graph", unit="tile", disable=not progress):
        i1, j1 = min(i0 + block_rows, n), min(j0 + block_cols, n)
        for r, c, cos32 in products.candidates(i0, i1, j0, j1, lower):
            ok = (c > r) & valid[r] & valid[c]
            r, c, cos32 = r[ok], c[ok], cos32[ok]
            keep, cos = refine_pairs(embeddings, norms, r, c, cos32, tau, margin)
            rows_parts.append(r[keep].astype(np.int64))
            cols_parts.append(c[keep].astype(np.int64))
            cos_parts.append(cos[keep])
            total += 2 * int(keep.sum())
            if total > max_edges:
                raise ValueError(
                    f"the tau={tau} graph has more than max_edges={max_edges} edges; "
                    "raise `tau`, cap the degree with `k`, or use backend='dense'"
                )
    upper_r = np.concatenate(rows_parts) if rows_parts else np.empty(0, np.int64)
    upper_c = np.concatenate(cols_parts) if cols_parts else np.empty(0, np.int64)
    upper_s = (0.5 + 0.5 * np.concatenate(cos_parts)) if cos_parts else np.empty(0)
    rows = np.concatenate([upper_r, upper_c])
    cols = np.concatenate([upper_c, upper_r])
    sims = np.concatenate([upper_s, upper_s])
    if k is not None:
        rows, cols, sims = _cap_rows(rows, cols, sims, int(k))
    self_ids = np.arange(n, dtype=np.int64)
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
