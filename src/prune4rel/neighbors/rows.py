"""Row sources for the greedy: neighbourhood rows from a sparse graph or computed on the fly."""

from __future__ import annotations

import itertools

import numpy as np
import torch

from prune4rel.neighbors.graph import CSRGraph
from prune4rel.neighbors.similarity import check_device, check_tau, cosine_margin, refine_pairs, unit_rows

__all__ = ["DenseRows", "GraphRows"]


class GraphRows:
    """Rows of a precomputed :class:`CSRGraph`.

    Parameters
    ----------
    graph : CSRGraph
        Row ``x`` = neighbours of ``x``. The greedy needs, for a pick ``s``, every ``x`` whose
        neighbourhood holds ``s``: the transposed graph (the same graph when symmetric).
    """

    def __init__(self, graph: CSRGraph) -> None:
        self.graph = graph.transpose()
        self.n = graph.n
        self._sims64 = self.graph.sims.astype(np.float64)

    def row(self, s: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.graph.indptr[s], self.graph.indptr[s + 1]
        return self.graph.indices[lo:hi], self._sims64[lo:hi]

    def initial_full_gains(self, conf: np.ndarray, eta: float) -> np.ndarray:
        owner = np.repeat(np.arange(self.n), self.graph.degrees())
        terms = np.tanh(self._sims64 * conf[owner] / eta)
        return np.add.reduceat(terms, self.graph.indptr[:-1])


class DenseRows:
    """Rows computed on the fly from the embeddings (CPU or CUDA), one block at a time.

    Memory: the unit embeddings (``4 n d`` bytes, on ``device``) plus one block of
    ``block`` x ``n`` float32 similarities. Near-threshold pairs are decided in float64
    exactly as in :func:`~prune4rel.neighbors.exact.exact_graph`.

    Parameters
    ----------
    embeddings : ndarray, shape (n, d)
    tau : float
        Similarity threshold in ``[0, 1)``.
    device : str
        ``"cpu"`` or a CUDA device.
    block : int
        Rows computed per matrix product when many rows are needed at once.
    """

    def __init__(self, embeddings: np.ndarray, tau: float, device: str = "cpu", block: int = 1024) -> None:
        self.tau = check_tau(tau)
        self.embeddings = embeddings
        unit, self.norms = unit_rows(embeddings)
        self.n, dim = unit.shape
        self.valid = self.norms > 0
        self.margin = cosine_margin(dim)
        self.lower = 2.0 * self.tau - 1.0 - self.margin
        self.device = check_device(device)
        self.unit = torch.from_numpy(unit).to(self.device)
        self.block = block

    def rows(self, lo: int, hi: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """Rows ``lo .. hi-1``: neighbour ids (ascending, self included) and float64 sims."""
        prev = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision("highest")  # no TF32: the error bound needs fp32
        try:
            cos = self.unit[lo:hi] @ self.unit.T
        finally:
            torch.set_float32_matmul_precision(prev)
        r_t, c_t = torch.nonzero(cos > self.lower, as_tuple=True)
        vals = cos[r_t, c_t].cpu().numpy()
        r, c = r_t.cpu().numpy() + lo, c_t.cpu().numpy()
        ok = (r != c) & self.valid[r] & self.valid[c]
        r, c, vals = r[ok], c[ok], vals[ok]
        keep, cos64 = refine_pairs(self.embeddings, self.norms, r, c, vals, self.tau, self.margin)
        r, c, sims = r[keep], c[keep], 0.5 + 0.5 * cos64[keep]
        # add the self pairs, then split by row (r is ascending from torch.nonzero)
        r = np.concatenate([r, np.arange(lo, hi)])
        c = np.concatenate([c, np.arange(lo, hi)])
        sims = np.concatenate([sims, np.ones(hi - lo)])
        order = np.lexsort((c, r))
        r, c, sims = r[order], c[order], sims[order]
        bounds = np.searchsorted(r, np.arange(lo, hi + 1))
        return [(c[a:b], sims[a:b]) for a, b in itertools.pairwise(bounds)]

    def row(self, s: int) -> tuple[np.ndarray, np.ndarray]:
        return self.rows(s, s + 1)[0]

    def initial_full_gains(self, conf: np.ndarray, eta: float) -> np.ndarray:
        gains = np.empty(self.n, dtype=np.float64)
        for lo in range(0, self.n, self.block):
            for s, (_, sims) in enumerate(self.rows(lo, min(lo + self.block, self.n)), start=lo):
                gains[s] = np.tanh(sims * conf[s] / eta).sum()
        return gains
