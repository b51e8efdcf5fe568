"""Approximate tau-neighbour graphs from a faiss k-nearest-neighbour search.

:func:`faiss_graph` has the interface of :func:`~prune4rel.neighbors.exact_graph` and
returns a :class:`~prune4rel.neighbors.CSRGraph`, built in three steps:

1. search, for every example ``x``, its ``k`` nearest other examples by inner product of
   unit vectors (optionally after a PCA to ``pca_dim`` features), with a flat (exhaustive),
   IVF or HNSW index;
2. keep the candidates with ``0.5 + 0.5 * cos > tau``. Without PCA the float32 inner products
   of the index are decided exactly as in the exact graph (the same float32 error bound,
   pairs near the threshold re-checked in float64 by
   :func:`~prune4rel.neighbors.refine_pairs`); with PCA every candidate's cosine is
   re-computed in float64 in the original space, so a kept edge is always a true edge with
   its true similarity;
3. add every self-loop.

What the graph holds: row ``x`` lists ``x`` and the tau-neighbours of ``x`` *among its k
nearest found by the index*. This is a subset of the exact tau-neighbourhood (never a false
edge); it misses neighbours ranked beyond ``k`` (dense cores) and those the index fails to
find (IVF probes too few lists, HNSW greedy search misses). With ``index="flat"`` and ``k``
at least the largest true degree the edge set equals the exact graph's.

Symmetry: by default the graph is *not* symmetrised (``symmetric=False``), the same meaning
as ``exact_graph(..., k=k)``: ``N(x; S)`` counts the picks among the ``k`` nearest of ``x``.
The greedy reads the transposed graph, so a pick ``s`` then credits every ``x`` that has
``s`` among its own ``k`` nearest. ``symmetrize=True`` adds the reverse of every edge found
(union), which recovers more true edges (an edge is kept when found from either side), gives
a symmetric graph whose rows can exceed ``k + 1`` entries, and costs up to twice the edges.

Memory: the index stores the (PCA-reduced) unit vectors, ``4 n d`` bytes for the flat and
IVF-flat indexes, plus the HNSW links; embeddings are read in chunks (a ``np.memmap`` /
``np.load(..., mmap_mode="r")`` array is never loaded whole), so no second ``n x d`` copy
is made. Results are deterministic for ``flat`` and ``ivf`` (fixed ``seed``); a
multi-threaded HNSW build depends on thread timing.

faiss is optional: ``pip install 'prune4rel[faiss]'`` (faiss-cpu) or faiss-gpu for
``device="cuda"`` (flat and IVF only; untested in CI).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from prune4rel.neighbors.graph import CSRGraph
from prune4rel.neighbors.similarity import cap_rows, check_tau, cosine_margin, refine_pairs, unit64
from prune4rel.validation import Boolean, Integer, Options, Rule, optional, validate_params

__all__ = ["FAISS_OPTIONS", "INDEXES", "faiss_graph", "neighbor_recall"]

INDEXES = ("flat", "ivf", "hnsw")
#: :func:`faiss_graph`'s own options and what each allows (also ``build_graph``'s, backend "faiss").
FAISS_OPTIONS: dict[str, Rule] = {
    "index": Options(*INDEXES),
    "nlist": optional(Integer(1)),
    "nprobe": Integer(1),
    "hnsw_m": Integer(1),
    "ef_construction": Integer(1),
    "ef_search": optional(Integer(1)),
    "pca_dim": optional(Integer(1)),
    "symmetrize": Boolean(),
    "seed": Integer(0),
    "chunk": Integer(1),
}


def _import_faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - exercised only without faiss
        raise ImportError(
            "the faiss backend needs faiss: pip install 'prune4rel[faiss]' (faiss-cpu) or faiss-gpu"
        ) from exc
    return faiss


def _check_embeddings(embeddings: np.ndarray) -> np.ndarray:
    emb = embeddings if isinstance(embeddings, np.ndarray) else np.asarray(embeddings)
    if emb.ndim != 2 or emb.shape[0] == 0 or emb.shape[1] == 0:
        raise ValueError(f"`embeddings` must be a non-empty (n, d) array, got shape {emb.shape}")
    return emb


def _norms(emb: np.ndarray, chunk: int) -> np.ndarray:
    """float64 row norms, read chunk by chunk; ValueError on NaN/inf."""
    n = emb.shape[0]
    norms = np.empty(n, dtype=np.float64)
    for lo in range(0, n, chunk):
        block = np.asarray(emb[lo : lo + chunk], dtype=np.float64)
        if not np.all(np.isfinite(block)):
            raise ValueError("`embeddings` contains NaN or infinite values")
        norms[lo : lo + chunk] = unit64(block)[1]
    return norms


def _unit(emb: np.ndarray, rows: slice | np.ndarray) -> np.ndarray:
    """float32 unit rows, bit-identical to :func:`~prune4rel.neighbors.unit_rows`."""
    return unit64(np.asarray(emb[rows], dtype=np.float64))[0].astype(np.float32)


class _Projector:
    """Identity, or a PCA to ``pca_dim`` features followed by re-normalisation."""

    def __init__(self, faiss: Any, dim: int, pca_dim: int | None, sample: np.ndarray) -> None:
        self.faiss = faiss
        self.pca = None
        self.dim = dim
        if pca_dim is not None:
            self.pca = faiss.PCAMatrix(dim, pca_dim)
            self.pca.train(np.ascontiguousarray(sample))
            self.dim = pca_dim

    def __call__(self, unit: np.ndarray) -> np.ndarray:
        if self.pca is None:
            return np.ascontiguousarray(unit)
        out = np.ascontiguousarray(self.pca.apply(np.ascontiguousarray(unit)), dtype=np.float32)
        self.faiss.normalize_L2(out)
        return out


def _gpu_index(faiss: Any, index: Any, device: str) -> Any:
    """Move ``index`` to a CUDA device when faiss-gpu is installed (ValueError otherwise)."""
    if device == "cpu":
        return index
    if not device.startswith("cuda"):
        raise ValueError(f"`device` must be 'cpu' or a CUDA device like 'cuda:0', got {device!r}")
    if not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() == 0:
        raise ValueError(f"`device` is {device!r} but this faiss has no GPU support; use device='cpu'")
    dev_id = int(device.split(":")[1]) if ":" in device else 0
    res = faiss.StandardGpuResources()  # pragma: no cover - needs faiss-gpu
    index = faiss.index_cpu_to_gpu(res, dev_id, index)  # pragma: no cover
    index.prune4rel_resources = res  # pragma: no cover - keep the resources alive
    return index  # pragma: no cover


def faiss_graph(
    embeddings: np.ndarray,
    tau: float = 0.975,
    k: int = 64,
    *,
    index: str = "ivf",
    nlist: int | None = None,
    nprobe: int = 16,
    hnsw_m: int = 16,
    ef_construction: int = 40,
    ef_search: int | None = None,
    pca_dim: int | None = None,
    symmetrize: bool = False,
    device: str = "cpu",
    seed: int = 0,
    chunk: int = 16384,
    max_edges: int = 400_000_000,
    progress: bool = False,
) -> CSRGraph:
    """Approximate tau-neighbour graph: the tau-neighbours of each example among its k nearest.

    Parameters
    ----------
    embeddings : ndarray, shape (n, d)
        Feature vectors (any float dtype); a memory map is read chunk by chunk.
    tau : float
        Similarity threshold in ``[0, 1)`` (neighbours: ``0.5 + 0.5 * cos > tau``).
    k : int
        Nearest examples searched per example besides itself, ``>= 1``.
    index : {"flat", "ivf", "hnsw"}
        ``flat``: exhaustive search (exact k-NN, the reference); ``ivf``: inverted lists
        (IVF-flat, spherical k-means coarse quantiser); ``hnsw``: HNSW graph (CPU only).
    nlist : int, optional
        IVF lists (default ``2 * sqrt(n)``, at most ``n / 39`` so that training has 39
        points per list).
    nprobe : int
        IVF lists scanned per query.
    hnsw_m, ef_construction, ef_search : int
        HNSW links per node, build beam and search beam (default ``max(64, 2 (k + 1))``).
    pca_dim : int, optional
        Search in a PCA projection to this many features (trained on a sample, vectors
        re-normalised); the kept candidates are then re-checked in the original space.
    symmetrize : bool
        Add the reverse of every found edge (see the module docstring).
    device : str
        ``"cpu"`` or ``"cuda[:N]"`` (needs faiss-gpu; flat and IVF).
    seed : int
        Seed of the training samples and of the IVF k-means.
    chunk : int
        Rows read, normalised and searched at a time.
    max_edges : int
        Refuse (ValueError) a graph with more directed edges than this.
    progress : bool
        Progress bar over query chunks.

    Returns
    -------
    CSRGraph
        ``symmetric`` is True only with ``symmetrize=True``. Zero-norm embeddings only
        neighbour themselves.

    Raises
    ------
    ValueError
        On a bad argument (named in the message) or NaN/inf embeddings.
    ImportError
        When faiss is not installed.
    """
    tau = check_tau(tau)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"`k` must be a positive integer, got {k!r}")
    validate_params(FAISS_OPTIONS, {
        "index": index, "nlist": nlist, "nprobe": nprobe, "hnsw_m": hnsw_m,
        "ef_construction": ef_construction, "ef_search": ef_search, "pca_dim": pca_dim,
        "symmetrize": symmetrize, "seed": seed, "chunk": chunk,
    })
    emb = _check_embeddings(embeddings)
    n, d = emb.shape
    if pca_dim is not None and not 1 <= int(pca_dim) <= d:
        raise ValueError(f"`pca_dim` must be in [1, d={d}] or None, got {pca_dim!r}")
    if index == "hnsw" and device != "cpu":
        raise ValueError("index='hnsw' runs on the CPU only: use device='cpu' or index='flat'/'ivf'")
    faiss = _import_faiss()
    k = int(k)
    rng = np.random.default_rng(seed)
    norms = _norms(emb, chunk)
    valid = norms > 0
    valid_ids = np.flatnonzero(valid)

    def sample(size: int) -> np.ndarray:
        pool = valid_ids if valid_ids.size else np.arange(n)
        ids = np.sort(rng.choice(pool, size=min(size, pool.size), replace=False))
        return _unit(emb, ids)

    pca_sample = sample(max(20_000, 4 * d)) if pca_dim is not None else np.empty((0, d), np.float32)
    proj = _Projector(faiss, d, None if pca_dim is None else int(pca_dim), pca_sample)
    dim = proj.dim
    if index == "flat":
        idx = faiss.IndexFlatIP(dim)
    elif index == "ivf":
        lists = int(nlist) if nlist is not None else max(1, min(int(2 * np.sqrt(n)), n // 39))
        idx = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        idx.cp.seed = int(seed)
        idx.cp.spherical = True
        idx.train(proj(sample(max(39 * lists, lists))))
        idx.nprobe = min(int(nprobe), lists)
    else:
        idx = faiss.IndexHNSWFlat(dim, int(hnsw_m), faiss.METRIC_INNER_PRODUCT)
        idx.hnsw.efConstruction = int(ef_construction)
        idx.hnsw.efSearch = int(ef_search) if ef_search is not None else max(64, 2 * (k + 1))
    idx = _gpu_index(faiss, idx, device)
    for lo in range(0, n, chunk):
        idx.add(proj(_unit(emb, slice(lo, min(lo + chunk, n)))))

    margin = cosine_margin(d)
    threshold = 2.0 * tau - 1.0
    search_k = min(k + 1, n)
    rows_parts: list[np.ndarray] = []
    cols_parts: list[np.ndarray] = []
    cos_parts: list[np.ndarray] = []
    total = 0
    if index == "ivf" and device == "cpu":
        batches = _ivf_batches(faiss, idx, chunk)
    else:
        batches = (
            (np.arange(lo, min(lo + chunk, n)), proj(_unit(emb, slice(lo, lo + chunk))))
            for lo in range(0, n, chunk)
        )
    bar = tqdm(total=n, desc="faiss graph", unit="query", disable=not progress)
    for query_ids, queries in batches:
        found_sims, found = idx.search(queries, search_k)
        bar.update(query_ids.size)
        r = np.repeat(query_ids, search_k)
        c = found.reshape(-1).astype(np.int64)
        s32 = found_sims.reshape(-1)
        ok = c >= 0
        ok[ok] &= c[ok] != r[ok]
        ok[ok] &= valid[r[ok]] & valid[c[ok]]
        r, c, s32 = r[ok], c[ok], s32[ok]
        if pca_dim is None:
            cand = s32 > threshold - margin
            r, c = r[cand], c[cand]
            keep, cos = refine_pairs(emb, norms, r, c, s32[cand], tau, margin)
        else:
            cos = _exact_cosines(emb, norms, r, c)
            keep = 0.5 + 0.5 * cos > tau
        r, c, cos = r[keep], c[keep], cos[keep]
        r, c, cos = cap_rows(r, c, cos, k)
        rows_parts.append(r)
        cols_parts.append(c)
        cos_parts.append(cos)
        total += r.size * (2 if symmetrize else 1)
        if total > max_edges:
            raise ValueError(f"the faiss graph has more than max_edges={max_edges} edges; lower `k`")
    bar.close()
    rows = np.concatenate(rows_parts)
    cols = np.concatenate(cols_parts)
    sims = (0.5 + 0.5 * np.concatenate(cos_parts)).astype(np.float32)
    mat = sp.csr_matrix((sims, (rows, cols)), shape=(n, n))
    if symmetrize:
        mat = mat.maximum(mat.T.tocsr())
    mat = mat + sp.identity(n, dtype=np.float32, format="csr")
    return CSRGraph.from_scipy(mat, tau, symmetric=bool(symmetrize))


def _ivf_batches(faiss: Any, idx: Any, chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Query batches of an IVF-flat index in inverted-list order: (ids, stored vectors).

    Queries of one list probe nearly the same lists, so searching them together keeps those
    lists in cache. The vectors are the index's own float32 copies, so nothing is re-read
    from the embeddings.
    """
    invlists = idx.invlists
    ids_parts: list[np.ndarray] = []
    vec_parts: list[np.ndarray] = []
    count = 0
    for lst in range(idx.nlist):
        size = invlists.list_size(lst)
        if size == 0:
            continue
        ids = faiss.rev_swig_ptr(invlists.get_ids(lst), size).astype(np.int64)
        codes = faiss.rev_swig_ptr(invlists.get_codes(lst), size * invlists.code_size).copy()
        ids_parts.append(ids)
        vec_parts.append(codes.view(np.float32).reshape(size, idx.d))
        count += size
        if count >= chunk:
            yield np.concatenate(ids_parts), np.ascontiguousarray(np.concatenate(vec_parts))
            ids_parts, vec_parts, count = [], [], 0
    if count:
        yield np.concatenate(ids_parts), np.ascontiguousarray(np.concatenate(vec_parts))


def _exact_cosines(
    emb: np.ndarray, norms: np.ndarray, rows: np.ndarray, cols: np.ndarray, block: int = 4096
) -> np.ndarray:
    """float64 cosines of the pairs ``(rows[i], cols[i])`` (both of non-zero norm), shape (m,)."""
    out = np.empty(rows.size, dtype=np.float64)
    for lo in range(0, rows.size, block):
        r, c = rows[lo : lo + block], cols[lo : lo + block]
        a = np.asarray(emb[r], dtype=np.float64) / norms[r, None]
        b = np.asarray(emb[c], dtype=np.float64) / norms[c, None]
        out[lo : lo + block] = np.einsum("ij,ij->i", a, b)
    return out


def neighbor_recall(
    approx: CSRGraph,
    embeddings: np.ndarray,
    tau: float,
    sample: int = 1000,
    seed: int = 0,
    *,
    chunk: int = 65536,
) -> float:
    """Share of true tau-neighbour pairs that an approximate graph holds, on sampled rows.

    For ``sample`` rows ``x`` drawn without replacement, the exact tau-neighbours of ``x``
    (others than ``x``, decided like :func:`~prune4rel.neighbors.exact_graph`, by a float32
    product against all ``n`` rows with a float64 re-check near ``tau``) are compared with
    row ``x`` of ``approx``.

    Parameters
    ----------
    approx : CSRGraph
        Graph to assess, n x n.
    embeddings : ndarray, shape (n, d)
        The embeddings it was built from (memory maps welcome).
    tau : float
        Threshold to assess against (normally ``approx.tau``).
    sample : int
        Rows sampled (all rows when ``sample >= n``).
    seed : int
        Seed of the row sample.
    chunk : int
        Columns compared at a time.

    Returns
    -------
    float
        ``sum_x |approx(x) & exact(x)| / sum_x |exact(x)|`` over the sampled rows, self
        excluded (micro-averaged recall); 1.0 when the sampled rows have no neighbours.
    """
    tau = check_tau(tau)
    emb = _check_embeddings(embeddings)
    n, d = emb.shape
    if approx.n != n:
        raise ValueError(f"`approx` has {approx.n} nodes but `embeddings` has {n} rows")
    if isinstance(sample, bool) or int(sample) < 1:
        raise ValueError(f"`sample` must be a positive integer, got {sample!r}")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=min(int(sample), n), replace=False))
    norms = _norms(emb, chunk)
    valid = norms > 0
    margin = cosine_margin(d)
    lower = 2.0 * tau - 1.0 - margin
    queries = _unit(emb, rows)
    found = hits = 0
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        cos = queries @ _unit(emb, slice(lo, hi)).T
        qi, cj = np.nonzero(cos > lower)
        r, c = rows[qi], cj + lo
        ok = (r != c) & valid[r] & valid[c]
        keep, _ = refine_pairs(emb, norms, r[ok], c[ok], cos[qi[ok], cj[ok]], tau, margin)
        r, c = r[ok][keep], c[ok][keep]
        found += r.size
        for x in np.unique(r):
            approx_row, _ = approx.row(int(x))
            hits += int(np.isin(c[r == x], approx_row, assume_unique=True).sum())
    return 1.0 if found == 0 else hits / found
