"""The sparse neighbour-graph type shared by every backend."""

from __future__ import annotations

import dataclasses
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
    backend : str or None
        How the graph was built: the :func:`~prune4rel.neighbors.build_graph` backend
        (``"graph"``, ``"faiss"``, ...); None when it was not built by ``build_graph``.
    k : int or None
        The per-row neighbour cap it was built with (None: every tau-neighbour). Recorded
        by :func:`~prune4rel.neighbors.build_graph`.
    """

    indptr: np.ndarray
    indices: np.ndarray
    sims: np.ndarray
    tau: float
    symmetric: bool = True
    backend: str | None = None
    k: int | None = None

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
        return self._like(self.to_scipy().T)

    def permute(self, order: np.ndarray) -> CSRGraph:
        """The same graph with node ``i`` renamed from ``order[i]``: ``P A P^T``.

        Parameters
        ----------
        order : ndarray of int, shape (n,)
            A permutation of ``0 .. n-1``; new node ``i`` is old node ``order[i]``.

        Returns
        -------
        CSRGraph
            The same edges and similarities (bit for bit), rows sorted by the new ids, so
            it equals the graph a backend builds on ``embeddings[order]`` whenever the
            backend's similarities and ``k``-cap ties do not depend on the row order.
        """
        perm = np.asarray(order)
        if perm.shape != (self.n,) or not np.array_equal(np.sort(perm), np.arange(self.n)):
            raise ValueError(f"`order` must be a permutation of 0..{self.n - 1}")
        return self._like(self.to_scipy()[perm][:, perm])

    def _like(self, mat: sp.spmatrix) -> CSRGraph:
        """``mat`` wrapped with this graph's threshold and record (symmetry kept)."""
        out = self.from_scipy(mat, self.tau, symmetric=self.symmetric)
        return dataclasses.replace(out, backend=self.backend, k=self.k)

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
