"""Choose the similarity threshold ``tau`` from the embeddings instead of fixing it.

The published ``tau = 0.975`` (cosine > 0.95) means very different neighbourhoods for
different networks and layers: on the small CNN's average-pooled CIFAR-10N features the mean
number of tau-neighbours (self excluded) is 0.2 at tau 0.99, 91 at 0.975 and 3,230 at 0.95,
and 37-53 at 0.975 on the CPU grid's SOP+ warm-ups (``benchmarks/RESULTS.md``, section 1b).
:func:`calibrate_tau` turns a target neighbourhood size into the threshold that gives it on
the embeddings at hand.

Definition: for ``m`` query rows drawn at random, count the pairs ``(q, j)``, ``j != q``,
with ``0.5 + 0.5 * cos(e_q, e_j) > tau``; the calibrated ``tau`` makes that count equal
``round(target_degree * m)`` (more only where cosines tie). A zero embedding has no
neighbour but itself (as in :func:`~prune4rel.neighbors.exact_graph`) and so contributes no
pair. With ``sample >= n`` every row is a query and the result is exact for the whole set.

On a CUDA device the rows are normalised there (a numpy array is copied chunk by chunk, a
tensor already on the device is read in place) and the products are full float32 (no TF32),
so features kept on the GPU are calibrated without a trip through the host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from prune4rel.neighbors.similarity import check_device, unit_rows
from prune4rel.neighbors.torch_backend import full_precision_matmul, torch_unit_rows

__all__ = ["calibrate_tau"]

_BINS = 1 << 16


def _bin_of(cos: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Histogram bin of each cosine: ``_BINS`` equal bins over [-1, 1], ends clamped.

    Pairs that do not count (``valid`` False) go to the extra bin ``_BINS``.
    """
    bins = ((cos + 1.0) * (0.5 * _BINS)).long().clamp_(0, _BINS - 1)
    return bins.masked_fill_(~valid, _BINS)


_Reader = Callable[[np.ndarray | slice], tuple[torch.Tensor, torch.Tensor]]


def _unit_reader(embeddings: np.ndarray | torch.Tensor, dev: torch.device) -> _Reader:
    """Float32 unit rows on ``dev`` and their non-zero mask, for a slice or an index array.

    A numpy array on the CPU is normalised by :func:`unit_rows`; a tensor, or any input on
    CUDA, by :func:`torch_unit_rows` on ``dev``.
    """
    if isinstance(embeddings, torch.Tensor):
        source = embeddings.detach()

        def read_tensor(index: np.ndarray | slice) -> tuple[torch.Tensor, torch.Tensor]:
            at = index if isinstance(index, slice) else torch.from_numpy(index).to(source.device)
            unit, norms = torch_unit_rows(source[at].to(dev))
            return unit, norms > 0

        return read_tensor

    def read_array(index: np.ndarray | slice) -> tuple[torch.Tensor, torch.Tensor]:
        if dev.type == "cpu":
            unit, norms = unit_rows(np.asarray(embeddings[index]))
            return torch.from_numpy(unit), torch.from_numpy(norms > 0)
        block = torch.from_numpy(np.array(embeddings[index]))  # a copy: memory maps are read-only
        unit_t, norms_t = torch_unit_rows(block.to(dev))
        return unit_t, norms_t > 0

    return read_array


def calibrate_tau(
    embeddings: np.ndarray | torch.Tensor,
    target_degree: float,
    *,
    sample: int = 2048,
    seed: int = 0,
    device: str = "cpu",
    chunk: int = 8192,
    progress: bool = False,
) -> float:
    """Similarity threshold at which examples have ``target_degree`` neighbours on average.

    Parameters
    ----------
    embeddings : ndarray or Tensor, shape (n, d)
        Any float dtype; may be a memory map (read ``chunk`` rows at a time, twice) or a
        tensor on any device.
    target_degree : float
        Wanted mean number of tau-neighbours of an example besides itself, in
        ``(0, n - 1]``.
    sample : int, default 2048
        Query rows the mean is estimated on (drawn without replacement; all rows when
        ``sample >= n``). Cost: two passes of ``sample x n`` dot products.
    seed : int, default 0
        Seed of the query draw.
    device : str, default "cpu"
        Where the products are computed (``"cpu"`` or a CUDA device).
    chunk : int, default 8192
        Embedding rows compared with the queries at a time (memory ``sample x chunk``
        floats).
    progress : bool, default False
        A progress bar over the chunks of each pass.

    Returns
    -------
    float
        ``tau`` in ``[0, 1)``: the midpoint (in similarity ``0.5 + 0.5 * cos``) between the
        ``k``-th and ``(k+1)``-th largest query cosine, ``k = round(target_degree * m)``.

    Raises
    ------
    ValueError
        If ``embeddings`` is not a finite non-empty (n, d) array with ``n >= 2``, if
        ``target_degree`` is not in ``(0, n - 1]``, if ``sample`` or ``chunk`` is not a
        positive integer, or if the sampled rows have fewer than ``k`` neighbour pairs at
        any threshold (zero embeddings have none).

    Notes
    -----
    Cosines are computed in float32 and located by a 65,536-bin histogram in a first pass;
    the second pass sorts only the bin that holds the ``k``-th largest. The graph built at
    the returned ``tau`` decides pairs in float64 (:func:`~prune4rel.neighbors.exact_graph`),
    so its count can differ where two float32 cosines lie within float32 error of each other.
    """
    if getattr(embeddings, "ndim", None) != 2 or embeddings.shape[0] < 2 or embeddings.shape[1] == 0:
        shape = getattr(embeddings, "shape", None)
        raise ValueError(f"`embeddings` must be an (n, d) array with n >= 2 and d >= 1, got shape {shape}")
    n = int(embeddings.shape[0])
    if isinstance(target_degree, bool) or not isinstance(target_degree, int | float | np.number):
        raise ValueError(f"`target_degree` must be a number in (0, n - 1], got {target_degree!r}")
    degree = float(target_degree)
    if not np.isfinite(degree) or not 0.0 < degree <= n - 1:
        raise ValueError(f"`target_degree` must be in (0, n - 1 = {n - 1}], got {target_degree!r}")
    for name, value in (("sample", sample), ("chunk", chunk)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
    dev = check_device(device)

    m = min(int(sample), n)
    queries = np.arange(n) if m == n else np.sort(np.random.default_rng(seed).choice(n, m, replace=False))
    read = _unit_reader(embeddings, dev)
    q_unit, q_live = read(queries)
    q_tensor, q_live = q_unit.to(dev), q_live.to(dev)
    k = max(1, round(degree * m))

    def cosines(desc: str) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """float32 cosines of the queries with one chunk of rows, and their bins."""
        for lo in tqdm(range(0, n, chunk), desc=desc, unit="chunk", disable=not progress):
            hi = min(lo + chunk, n)
            unit, live = read(slice(lo, hi))
            with full_precision_matmul():
                cos = q_tensor @ unit.to(dev).T
            valid = q_live[:, None] & live.to(dev)[None, :]
            own = np.flatnonzero((queries >= lo) & (queries < hi))
            valid[torch.from_numpy(own).to(dev), torch.from_numpy(queries[own] - lo).to(dev)] = False
            yield cos, _bin_of(cos, valid)

    counts = torch.zeros(_BINS + 1, dtype=torch.long, device=dev)
    for _, bins in cosines("calibrate tau (1/2)"):
        counts += torch.bincount(bins.view(-1), minlength=_BINS + 1)
    at_or_above = counts[:_BINS].flip(0).cumsum(0).flip(0).cpu().numpy()  # pairs in bins >= b
    if at_or_above[0] < k:
        raise ValueError(
            f"`target_degree` {degree:g} needs {k} neighbour pairs among the {m} sampled rows, "
            f"but only {int(at_or_above[0])} exist (zero embeddings have no neighbours)"
        )
    b = int(np.flatnonzero(at_or_above >= k)[-1])
    rank = k - (int(at_or_above[b + 1]) if b + 1 < _BINS else 0)  # 1-based rank within bin b

    in_bin: list[np.ndarray] = []
    below = -np.inf  # largest counted cosine in a lower bin
    for cos, bins in cosines("calibrate tau (2/2)"):
        in_bin.append(cos[bins == b].cpu().numpy())
        if b > 0:
            below = max(below, float(torch.where(bins < b, cos, -np.inf).max()))
    values = np.sort(np.concatenate(in_bin).astype(np.float64))[::-1]
    kth = values[rank - 1]
    following = values[rank] if rank < values.size else below
    threshold = -1.0 if not np.isfinite(following) else 0.5 * (kth + following)
    tau = 0.5 + 0.5 * threshold
    return float(min(max(tau, 0.0), np.nextafter(1.0, 0.0)))
