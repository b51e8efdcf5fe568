"""Exact tau-neighbour graphs from low-precision (tensor-core) products, on a GPU or the CPU.

Unit rows are stored in float16, bfloat16 or float32 and multiplied tile by tile over the
upper triangle with float32 accumulation (tensor cores on CUDA). :func:`product_margin`
bounds the error of those products, so the pairs whose product reaches ``2 tau - 1 - margin``
include every tau-neighbour. Each such candidate is then re-computed in float64 and kept when
``0.5 + 0.5 * cos > tau``, the decision of :func:`~prune4rel.neighbors.refine_pairs`: the
edge set is the one :func:`~prune4rel.neighbors.exact_graph` builds, and every stored
similarity is the float32 rounding of its float64 value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import torch
from tqdm.auto import tqdm

from prune4rel.neighbors.graph import CSRGraph
from prune4rel.neighbors.similarity import (
    GraphTooLargeError,
    assemble_graph,
    check_device,
    check_k,
    check_tau,
    refine_pairs,
    unit_rows,
)
from prune4rel.validation import Integer, Options, Rule, optional, validate_params

__all__ = ["device_csr", "full_precision_matmul", "product_margin", "torch_graph", "torch_unit_rows"]

#: unit roundoff and underflow error (half the smallest subnormal) of each storage dtype
_ROUNDING = {
    "float16": (2.0**-11, 2.0**-25),
    "bfloat16": (2.0**-8, 2.0**-134),
    "float32": (2.0**-24, 2.0**-150),
}
_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
#: :func:`torch_graph`'s own options and what each allows (also ``build_graph``'s, backend "torch").
TORCH_OPTIONS: dict[str, Rule] = {
    "dtype": Options("auto", *_DTYPES),
    "block_rows": optional(Integer(1)),
    "block_cols": optional(Integer(1)),
}


def product_margin(dim: int, dtype: str) -> float:
    """Bound on |computed product - float64 cosine| for unit rows of ``dim`` features in ``dtype``.

    Let ``a``, ``b`` be the float64 unit rows (``||a|| <= s = 1 + (d + 2) 2**-53``) and
    ``â``, ``b̂`` their stored copies, rounded float64 -> float32 -> ``dtype``:
    ``â_i = a_i (1 + δ_i) + η_i`` with ``|δ_i| <= e = u + u32 + u u32`` (``e = u32`` for
    float32; ``u`` = 2**-11 float16, 2**-8 bfloat16, 2**-24 float32) and ``|η_i| <= w``
    (half the smallest subnormal: gradual underflow, as IEEE conversions give). By
    Cauchy-Schwarz (``Σ|a_i b_i| <= s²``, ``Σ|a_i| <= s √d``)::

        |â·b̂ - a·b| <= (2e + e²) s² + 2 (1 + e) w s √d + d w²                 (inputs)

    Summing the ``d`` products in float32, in any order and blocking, errs by at most
    ``γ S + d 2**-149`` with ``S = Σ|â_i b̂_i| <= (1 + e)² s² + 2 (1 + e) w s √d + d w²``,
    ``γ = (d + 1) v / (1 - (d + 1) v)``: ``v = 2**-24`` for float32 inputs (rounded products
    and sums); ``v = 2**-22`` for half inputs, whose products are exact in float32 but whose
    tensor-core accumulation aligns and truncates the ``k + 1`` terms of each block FMA
    (error below ``(k + 2) 2**-23 S`` per block of ``k >= 2`` products, Fasi et al. 2021).
    Either float64 reference (``refine_pairs``' dot of the unit rows, or the device's dot
    of the raw rows over the product of the same norms) is within ``(d + 5) 2**-53 s²`` of
    ``a·b``, and the decision ``0.5 + 0.5 cos > tau`` moves the threshold ``2 tau - 1`` by
    at most ``2**-52``: the bound adds ``(d + 4) 2**-52`` for both. About 1.5e-3 for
    float16 at d = 2048, 8.3e-3 for bfloat16, 1.2e-4 for float32
    (:func:`~prune4rel.neighbors.cosine_margin` is the float32 bound with round-to-nearest
    sums).

    Rounding the float32 product to ``dtype`` on output needs no term: rounding is
    monotone, so comparing the rounded product with the rounded threshold (``>=``) keeps
    every pair whose float32 product reaches the threshold.
    """
    if dtype not in _ROUNDING:
        raise ValueError(f"`dtype` must be one of {sorted(_ROUNDING)}, got {dtype!r}")
    d = float(dim)
    u, w = _ROUNDING[dtype]
    u32 = _ROUNDING["float32"][0]
    e = u32 if dtype == "float32" else u + u32 + u * u32
    s = 1.0 + (d + 2.0) * 2.0**-53
    cross = 2.0 * (1.0 + e) * w * s * math.sqrt(d) + d * w * w
    inputs = (2.0 * e + e * e) * s * s + cross
    v = 2.0**-24 if dtype == "float32" else 2.0**-22
    gamma = (d + 1.0) * v / (1.0 - (d + 1.0) * v)
    total = (1.0 + e) ** 2 * s * s + cross
    return inputs + gamma * total + d * 2.0**-149 + (d + 4.0) * 2.0**-52


@contextmanager
def full_precision_matmul() -> Iterator[None]:
    """Products as :func:`product_margin` assumes: no TF32, no half-precision reductions.

    Sets ``torch.set_float32_matmul_precision("highest")`` and disallows cuBLAS's reduced
    precision split-K reductions for float16/bfloat16; the previous settings are restored.
    """
    matmul = torch.backends.cuda.matmul
    saved = (
        torch.get_float32_matmul_precision(),
        matmul.allow_fp16_reduced_precision_reduction,
        matmul.allow_bf16_reduced_precision_reduction,
    )
    torch.set_float32_matmul_precision("highest")
    matmul.allow_fp16_reduced_precision_reduction = False
    matmul.allow_bf16_reduced_precision_reduction = False
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(saved[0])
        matmul.allow_fp16_reduced_precision_reduction = saved[1]
        matmul.allow_bf16_reduced_precision_reduction = saved[2]


def torch_unit_rows(
    x: torch.Tensor, dtype: torch.dtype = torch.float32, chunk: int = 16384
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`~prune4rel.neighbors.unit_rows` in torch, on the device of ``x``.

    Parameters
    ----------
    x : Tensor, shape (n, d)
    dtype : torch.dtype
        Storage of the unit rows (rounded float64 -> float32 -> ``dtype``).
    chunk : int
        Rows normalised at a time (bounds the float64 temporary).

    Returns
    -------
    unit : Tensor of ``dtype``, shape (n, d)
        Zero rows stay zero.
    norms : Tensor of float64, shape (n,)

    Raises
    ------
    ValueError
        If ``x`` holds NaN or infinite values.
    """
    n, d = x.shape
    unit = torch.empty((n, d), dtype=dtype, device=x.device)
    norms = torch.empty(n, dtype=torch.float64, device=x.device)
    for lo in range(0, n, chunk):
        block = x[lo : lo + chunk].double()
        if not bool(torch.isfinite(block).all()):
            raise ValueError("`embeddings` contains NaN or infinite values")
        nrm = block.square().sum(1).sqrt()
        norms[lo : lo + chunk] = nrm
        unit[lo : lo + chunk] = (block / torch.where(nrm > 0, nrm, 1.0)[:, None]).float().to(dtype)
    return unit, norms


_Pairs = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class _Path(NamedTuple):
    """How one input is handled: its unit rows, then float64 decisions and assembly."""

    unit: torch.Tensor  # (n, d) in the product dtype, on the compute device
    valid: torch.Tensor  # (n,) bool: non-zero rows
    rescore: Callable[[torch.Tensor, torch.Tensor], _Pairs]  # candidates -> kept (r, c, cos)
    assemble: Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor, float, int | None], CSRGraph]


def _host_path(embeddings: np.ndarray, dtype: torch.dtype, tau: float) -> _Path:
    """The numpy code of :func:`exact_graph`: unit rows, float64 decisions, assembly."""
    unit, norms = unit_rows(embeddings)

    def rescore(r: torch.Tensor, c: torch.Tensor) -> _Pairs:
        rows, cols = r.numpy(), c.numpy()
        keep, cos = refine_pairs(embeddings, norms, rows, cols, np.zeros(rows.size, np.float32), tau, np.inf)
        return torch.from_numpy(rows[keep]), torch.from_numpy(cols[keep]), torch.from_numpy(cos[keep])

    return _Path(torch.from_numpy(unit).to(dtype), torch.from_numpy(norms > 0), rescore, _host_csr)


def _host_csr(
    n: int, upper_rows: torch.Tensor, upper_cols: torch.Tensor, upper_sims: torch.Tensor, tau: float,
    k: int | None,
) -> CSRGraph:
    """:func:`assemble_graph` of CPU tensors (what :func:`exact_graph` assembles with)."""
    return assemble_graph(n, upper_rows.numpy(), upper_cols.numpy(), upper_sims.numpy(), tau, k)


def _device_path(src: torch.Tensor, dtype: torch.dtype, tau: float) -> _Path:
    """The same steps in torch on the device of ``src``.

    The float64 cosine is the raw rows' dot product over the product of their norms (two
    fewer passes over the gathered rows than dividing each row first).
    """
    unit, norms = torch_unit_rows(src, dtype)

    def rescore(r: torch.Tensor, c: torch.Tensor) -> _Pairs:
        cos = torch.einsum("ij,ij->i", src[r].double(), src[c].double()) / (norms[r] * norms[c])
        keep = 0.5 + 0.5 * cos > tau
        return r[keep], c[keep], cos[keep]

    return _Path(unit, norms > 0, rescore, device_csr if src.is_cuda else _host_csr)


def device_csr(
    n: int, upper_rows: torch.Tensor, upper_cols: torch.Tensor, upper_sims: torch.Tensor, tau: float,
    k: int | None,
) -> CSRGraph:
    """:func:`~prune4rel.neighbors.similarity.assemble_graph` with torch sorts on the pairs' device.

    The same :class:`CSRGraph` (for distinct pairs), built where the pairs are: a GPU sorts
    10**8 edges in well under a second, where scipy's COO to CSR conversion and the
    temporaries of ``assemble_graph`` take about 7 s per 2 * 10**7 edges on one host core.

    Parameters
    ----------
    n : int
    upper_rows, upper_cols : Tensor of int, shape (m,)
        Kept pairs ``r < c``.
    upper_sims : Tensor of float64, shape (m,)
        ``0.5 + 0.5 * cos`` of each pair.
    tau : float
    k : int or None
        Keep the ``k`` most similar entries of each row (ties: lower column).
    """
    rows = torch.cat([upper_rows, upper_cols]).long()
    cols = torch.cat([upper_cols, upper_rows]).long()
    sims = torch.cat([upper_sims, upper_sims])
    if k is not None:  # lexicographic (row, -sim, col) by stable sorts, last key first
        order = torch.sort(cols, stable=True).indices
        order = order[torch.sort(-sims[order], stable=True).indices]
        order = order[torch.sort(rows[order], stable=True).indices]
        rows, cols, sims = rows[order], cols[order], sims[order]
        rank = torch.arange(rows.shape[0], device=rows.device) - torch.searchsorted(rows, rows)
        rows, cols, sims = rows[rank < k], cols[rank < k], sims[rank < k]
    ids = torch.arange(n, device=rows.device)
    rows, cols = torch.cat([rows, ids]), torch.cat([cols, ids])
    order = torch.sort(rows * n + cols).indices
    counts = torch.bincount(rows, minlength=n).cpu().numpy()
    indptr = np.concatenate([[0], np.cumsum(counts)])
    data = torch.cat([sims, torch.ones(n, dtype=sims.dtype, device=sims.device)])[order].float()
    small = max(n, int(indptr[-1])) < 2**31  # scipy's choice of index dtype
    indices = cols[order].to(torch.int32 if small else torch.int64).cpu().numpy()
    mat = sp.csr_matrix((data.cpu().numpy(), indices, indptr.astype(indices.dtype)), shape=(n, n))
    return CSRGraph.from_scipy(mat, tau, symmetric=k is None)


def _on_device(embeddings: np.ndarray | torch.Tensor, dev: torch.device, chunk: int = 16384) -> torch.Tensor:
    """``embeddings`` as a floating tensor on ``dev`` (copied chunk by chunk when needed)."""
    if isinstance(embeddings, torch.Tensor):
        src = embeddings.detach()
        src = src if src.is_floating_point() else src.double()
        return src.to(dev)
    floating = embeddings.dtype in (np.float16, np.float32, np.float64)
    dtype = embeddings.dtype if floating else np.dtype(np.float64)
    out = torch.empty(embeddings.shape, dtype=getattr(torch, dtype.name), device=dev)
    for lo in range(0, embeddings.shape[0], chunk):
        out[lo : lo + chunk] = torch.from_numpy(np.array(embeddings[lo : lo + chunk], dtype))  # writable
    return out


def _tile_shape(
    n: int, d: int, dev: torch.device, itemsize: int, block_rows: int | None, block_cols: int | None
) -> tuple[int, int, int, int]:
    """Tile rows and columns, candidates held at once, candidates decided per batch.

    On CUDA (sizes from the free memory) a tile (product and mask, ``itemsize + 1`` bytes an
    entry, at most 2**30 entries: ``nonzero`` counts in int32 on some versions) gets a
    quarter of the free memory, the candidate ids of a tile (16 bytes each) a sixteenth and
    a batch of float64 decisions (gathered rows in float32 and float64, ``24 d`` bytes a
    pair) an eighth.
    """
    if dev.type == "cuda":
        free = int(torch.cuda.mem_get_info(dev)[0])
        rows = min(n, 16384) if block_rows is None else block_rows
        fit = int(min(max(free // 4 // (max(rows, 1) * (itemsize + 1)), 1024), 2**30 // max(rows, 1), n))
        cols = fit if block_cols is None else block_cols
        hold, batch = free // 16 // 16, free // 8 // (24 * d + 64)
    else:
        rows = 2048 if block_rows is None else block_rows
        cols = 16384 if block_cols is None else block_cols
        hold, batch = 1 << 25, (1 << 28) // (16 * d)
    if rows < 1 or cols < 1:
        raise ValueError(f"`block_rows` and `block_cols` must be positive, got {block_rows}, {block_cols}")
    return rows, cols, max(hold, cols), max(batch, 1024)


def _candidates(
    unit: torch.Tensor, lower: torch.Tensor, block_rows: int, block_cols: int, hold: int, progress: bool
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Pairs ``r < c`` whose product is ``>= lower``, at most ``hold + block_cols`` at a time."""
    n = unit.shape[0]
    tiles = [(i0, j0) for i0 in range(0, n, block_rows) for j0 in range(i0, n, block_cols)]
    for i0, j0 in tqdm(tiles, desc="neighbour graph (torch)", unit="tile", disable=not progress):
        mask = unit[i0 : i0 + block_rows] @ unit[j0 : j0 + block_cols].T >= lower
        slabs = [(0, mask.shape[0])]
        if mask.numel() > hold and int(torch.count_nonzero(mask)) > hold:
            per_row = np.cumsum(torch.count_nonzero(mask, dim=1).cpu().numpy())
            cuts = np.searchsorted(per_row, np.arange(hold, per_row[-1], hold), side="right")
            bounds = np.unique(np.concatenate([[0], cuts, [mask.shape[0]]]))
            slabs = list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))
        for lo, hi in slabs:
            r, c = torch.nonzero(mask[lo:hi], as_tuple=True)
            r, c = r + (i0 + lo), c + j0
            upper = c > r
            yield r[upper], c[upper]


def torch_graph(
    embeddings: np.ndarray | torch.Tensor,
    tau: float = 0.975,
    k: int | None = None,
    *,
    device: str = "cpu",
    dtype: str = "auto",
    block_rows: int | None = None,
    block_cols: int | None = None,
    max_edges: int = 400_000_000,
    progress: bool = False,
) -> CSRGraph:
    """Build the exact tau-neighbour graph of ``embeddings`` from low-precision products.

    Parameters
    ----------
    embeddings : ndarray or Tensor, shape (n, d)
        Feature vectors (any float dtype; memory maps welcome). A tensor is used where it
        lives when that is ``device`` (no copy), else copied there.
    tau : float
        Similarity threshold in ``[0, 1)``: neighbours have ``0.5 + 0.5 cos > tau``.
    k : int, optional
        Keep at most the ``k`` most similar neighbours of each node besides itself (ties:
        lower index); the capped graph is not symmetric. None keeps all.
    device : str
        ``"cpu"`` or a CUDA device (``"cuda"``, ``"cuda:1"``).
    dtype : {"auto", "float16", "bfloat16", "float32"}
        Storage of the unit rows in the products; ``"auto"``: float16 on CUDA (tensor cores,
        a band 5.6 times narrower than bfloat16's), float32 on the CPU.
    block_rows, block_cols : int, optional
        Tile shape. Default: 2048 x 16384 on the CPU; on CUDA 16,384 rows and as many
        columns (at most 65,536) as a quarter of the free memory holds.
    max_edges : int
        Refuse (:class:`GraphTooLargeError`, a ValueError) to build a graph with more
        directed edges than this.
    progress : bool
        Show a progress bar over tiles.

    Returns
    -------
    CSRGraph
        Symmetric when ``k`` is None; zero rows only neighbour themselves.

    Notes
    -----
    Exactness: a pair is a candidate when its product, rounded to ``dtype``, is at least
    ``2 tau - 1 - product_margin(d, dtype)`` rounded the same way; every candidate is
    decided in float64. The edges are those of :func:`exact_graph`. A numpy array on the
    CPU is normalised and decided by the same numpy code as :func:`exact_graph` (identical
    edges and float64 values); a tensor or a CUDA device does the same steps in torch on
    the device, whose float64 cosines may differ in the last bits (an edge could differ
    only where ``0.5 + 0.5 cos`` equals ``tau`` to float64 precision).

    Edges: on the CPU the kept pairs are assembled by ``assemble_graph`` (as in
    :func:`exact_graph`); on CUDA they stay on the device and :func:`device_csr` sorts them
    there into the same CSR, which is then copied to the host in one piece.

    Memory on the device: the embeddings (kept for the float64 decisions), the unit rows
    (``2 n d`` bytes in half precision), one tile, one batch of candidates and the kept
    pairs (16 bytes each, about 60 bytes an edge while sorting).
    """
    tau = check_tau(tau)
    k = check_k(k)
    opts = validate_params(
        TORCH_OPTIONS, {"dtype": dtype, "block_rows": block_rows, "block_cols": block_cols}
    )
    block_rows, block_cols = opts["block_rows"], opts["block_cols"]
    dev = check_device(device)
    name = ("float16" if dev.type == "cuda" else "float32") if dtype == "auto" else dtype
    shape = tuple(getattr(embeddings, "shape", ()))
    if len(shape) != 2 or shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"`embeddings` must be a non-empty (n, d) array, got shape {shape}")
    n, d = int(shape[0]), int(shape[1])
    torch_dtype = _DTYPES[name]
    if isinstance(embeddings, np.ndarray) and dev.type == "cpu":
        path = _host_path(embeddings, torch_dtype, tau)
    else:
        path = _device_path(_on_device(embeddings, dev), torch_dtype, tau)
    lower64 = torch.tensor(2.0 * tau - 1.0 - product_margin(d, name), dtype=torch.float64)
    lower = lower64.float().to(torch_dtype).to(dev)  # the products' own rounding chain
    rows, cols, hold, batch = _tile_shape(n, d, dev, path.unit.element_size(), block_rows, block_cols)

    index = torch.int32 if n < 2**31 else torch.int64
    parts: list[_Pairs] = []
    total = 0
    with full_precision_matmul():
        for r, c in _candidates(path.unit, lower, rows, cols, hold, progress):
            ok = path.valid[r] & path.valid[c]
            r, c = r[ok], c[ok]
            for lo in range(0, r.shape[0], batch):
                kr, kc, cos = path.rescore(r[lo : lo + batch], c[lo : lo + batch])
                parts.append((kr.to(index), kc.to(index), cos))
                total += 2 * kr.shape[0]
                if total > max_edges:
                    raise GraphTooLargeError(tau, max_edges)
    empty = torch.empty(0, dtype=index, device=path.unit.device)
    upper_r, upper_c, cos = (torch.cat(p) for p in zip(*parts)) if parts else (empty, empty, empty.double())
    del parts
    return path.assemble(n, upper_r, upper_c, 0.5 + 0.5 * cos, tau, k)
