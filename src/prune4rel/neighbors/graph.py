"""The sparse neighbour-graph type shared by every backend."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["CSRGraph"]


@dataclass(frozen=True)
class CSRGraph:
    """A directed similarity graph on ``n`` nodes in compressed sparse row form.

    Row ``x`` lists the neighbours of ``x``: the examples ``s`` that count towards
    ``N(x; S)``. Every node is its own neighbour with similarity exactly 1.

    Attributes
    ----------
    indptr : ndarray of int64, shape (n + 1,)
        Row ``x`` occupies ``indices[indptr[x]:indptr[x + 1]]``.
    indices : ndarray of int32 or int64, shape (nnz,)
        Neighbour ids, ascending within each row.
    sims : ndarray of float32, shape (nnz,)
        Similarities ``0.5 + 0.5 * cos`` in ``(tau, 1]``.
    tau : float
        The threshold the graph was built with (edges have ``sim > tau``).
    symmetric : bool
        True when ``s`` in row ``x`` implies ``x`` in row ``s`` (no k-cap).
    """

    indptr: np.ndarray
    indices: np.ndarray
    sims: np.ndarray
    tau: float
    symmetric: bool = True

    @property
    def n(self) -> int:
        """Number of nodes."""
        return int(self.indptr.shape[0] - 1)

    @property
    def nnz(self) -> int:
        """Number of stored edges, self-loops included."""
        return int(self.indices.shape[0])

    def degrees(self) -> np.ndarray:
        """Neighbour count of each node (self included), shape (n,)."""
        return np.diff(self.indptr)

    def row(self, x: int) -> tuple[np.ndarray, np.ndarray]:
        """Neighbour ids and similarities of node ``x``."""
        lo, hi = self.indptr[x], self.indptr[x + 1]
        return self.indices[lo:hi], self.sims[lo:hi]

    def to_scipy(self) -> sp.csr_matrix:
        """The graph as a ``scipy.sparse.csr_matrix`` of similarities."""
        return sp.csr_matrix((self.sims, self.indices, self.indptr), shape=(self.n, self.n))

    def transpose(self) -> CSRGraph:
        """The reversed graph (row ``s`` lists every ``x`` that has ``s`` as a neighbour)."""
        if self.symmetric:
            return self
        return self.from_scipy(self.to_scipy().T.tocsr(), self.tau, symmetric=False)

    @classmethod
    def from_scipy(cls, mat: sp.spmatrix, tau: float, symmetric: bool) -> CSRGraph:
        """Wrap a square scipy sparse matrix of similarities (indices get sorted)."""
        csr = sp.csr_matrix(mat)
        csr.sort_indices()
        return cls(
            indptr=csr.indptr.astype(np.int64),
            indices=csr.indices,
            sims=csr.data.astype(np.float32),
            tau=float(tau),
            symmetric=symmetric,
        )
