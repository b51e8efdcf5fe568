"""The compiled lazy greedy on a sparse graph (numba), a drop-in for :func:`lazy_greedy`.

:func:`compiled_lazy_greedy` runs the same greedy as
:func:`prune4rel.selection.greedy.lazy_greedy` on a :class:`~prune4rel.neighbors.CSRGraph`
in nopython code (see :mod:`prune4rel.selection.greedy_kernel`): the same picks in the same
order, the same neighbourhood confidences and the same gains, bit for bit.

For ``objective="full"`` the kernel decides with the C library's ``exp``/``expm1`` where the
Python engine uses numpy's (possibly SIMD code that can differ in the last bit); a pick could
differ only where two candidates tie to within a few units in the last place. The reported
gains are then recomputed with numpy by replaying the picks (one vectorised pass over the
picked rows), so they are bit-identical to the Python engine's.

The Python engine stays the reference; this one needs the optional ``numba`` package (a
core dependency of prune4rel, but the library still imports without it).

The kernel runs in a worker thread (it releases the GIL) while this thread shows its
progress over the picks and stays responsive: Ctrl-C stops the kernel before its next pick.
The passes over the graph before and after it (the ``"full"`` initial and reported gains)
have their own progress bars.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from importlib.util import find_spec
from typing import TypeVar

import numpy as np
from tqdm.auto import tqdm

from prune4rel.neighbors import CSRGraph
from prune4rel.selection.greedy import GreedyResult, tanh_gain

__all__ = ["compiled_lazy_greedy", "full_initial_gains", "numba_available"]

_T = TypeVar("_T")


def numba_available() -> bool:
    """Whether numba can be imported (the compiled engine is usable)."""
    return find_spec("numba") is not None


def full_initial_gains(
    transposed: CSRGraph, conf: np.ndarray, eta: float, chunk_edges: int = 1 << 22, progress: bool = False
) -> np.ndarray:
    """``f({s}) = sum_{x in rows(s)} tanh(sim(x, s) conf(s) / eta)`` for every ``s``.

    Same arithmetic as :meth:`prune4rel.neighbors.GraphRows.initial_full_gains` (so the
    same bits), computed over blocks of rows to bound the temporaries to about
    ``24 * chunk_edges`` bytes.

    Parameters
    ----------
    transposed : CSRGraph
        Row ``s`` lists every ``x`` whose neighbourhood holds ``s`` (non-empty rows).
    conf : ndarray of float64, shape (n,)
    eta : float
    chunk_edges : int
        Edges handled per block (a block holds at least one row).
    progress : bool
        Show a progress bar over the rows.

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    n = transposed.n
    indptr = transposed.indptr
    gains = np.empty(n, dtype=np.float64)
    lo = 0
    desc = "greedy (full objective): initial gains"
    with tqdm(total=n, desc=desc, unit="row", disable=not progress) as bar:
        while lo < n:
            hi = int(np.searchsorted(indptr, indptr[lo] + chunk_edges, side="right")) - 1
            hi = min(max(hi, lo + 1), n)
            a, b = int(indptr[lo]), int(indptr[hi])
            owner = np.repeat(np.arange(lo, hi), np.diff(indptr[lo : hi + 1]))
            terms = np.tanh(transposed.sims[a:b].astype(np.float64) * conf[owner] / eta)
            gains[lo:hi] = np.add.reduceat(terms, indptr[lo:hi] - a)
            bar.update(hi - lo)
            lo = hi
    return gains


def _run_with_progress(
    call: Callable[[], _T], control: np.ndarray, total: int, desc: str, progress: bool
) -> _T:
    """``call()`` (a compiled kernel that releases the GIL and counts its steps in
    ``control[0]``) in a worker thread, with a progress bar over ``total`` steps here.

    An exception in this thread (Ctrl-C) sets ``control[1]``, which stops the kernel at its
    next step, waits for it and is raised again; an exception in the kernel is raised here.
    """
    values: list[_T] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            values.append(call())
        except BaseException as exc:  # handed to the calling thread
            errors.append(exc)

    worker = threading.Thread(target=work, name="prune4rel-greedy", daemon=True)
    with tqdm(total=total, desc=desc, unit="pick", disable=not progress) as bar:
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.25)
                bar.update(int(control[0]) - bar.n)
        except BaseException:
            control[1] = 1
            worker.join()
            raise
        bar.update(int(control[0]) - bar.n)  # the kernel may end before the first look
    if errors:
        raise errors[0]
    return values[0]


def compiled_lazy_greedy(
    graph: CSRGraph,
    conf: np.ndarray,
    labels: np.ndarray,
    budget: int,
    *,
    eta: float = 1.0,
    objective: str = "published",
    balance: bool = True,
    progress: bool = False,
) -> GreedyResult:
    """Greedily pick ``budget`` examples on ``graph`` with the compiled engine.

    Parameters
    ----------
    graph : CSRGraph
        Neighbour graph, shape n x n (row ``x`` = neighbours of ``x``); transposed here
        when not symmetric, exactly as :class:`~prune4rel.neighbors.GraphRows` does.
    conf : ndarray of float, shape (n,)
        Confidence of each example.
    labels : ndarray of int, shape (n,)
        Given labels (class balance only).
    budget : int
        Number of picks, ``1 <= budget <= n``.
    eta : float
        Temperature of the tanh saturation, > 0.
    objective : {"published", "full"}
    balance : bool
        Published class round-robin (True) or unconstrained greedy (False).
    progress : bool
        Progress bars over the picks (and, for ``"full"``, the passes over the graph that
        compute the initial and the reported gains).

    Returns
    -------
    GreedyResult
        ``indices`` (pick order), ``gains`` and ``neighborhood_confidence``, shape (n,).

    Raises
    ------
    ValueError
        On an unknown objective, a budget outside ``[1, n]`` or mismatched lengths.
    ImportError
        When numba is not installed.
    """
    from prune4rel.selection.greedy_kernel import greedy_kernel

    if objective not in ("published", "full"):
        raise ValueError(f"`objective` must be 'published' or 'full', got {objective!r}")
    n = graph.n
    conf64 = np.ascontiguousarray(conf, dtype=np.float64)
    labels = np.asarray(labels)
    if conf64.shape != (n,) or labels.shape != (n,):
        raise ValueError(f"`conf` and `labels` must have shape ({n},), got {conf64.shape}, {labels.shape}")
    if isinstance(budget, bool) or int(budget) != budget or not 1 <= budget <= n:
        raise ValueError(f"`budget` must be an integer in [1, n={n}], got {budget!r}")
    eta = float(eta)
    transposed = graph.transpose()
    if objective == "published":
        initial = np.tanh(conf64 / eta)
    else:
        initial = full_initial_gains(transposed, conf64, eta, progress=progress)
    classes, cls = np.unique(labels, return_inverse=True)
    indptr = np.ascontiguousarray(transposed.indptr, dtype=np.int64)
    indices = np.ascontiguousarray(transposed.indices)
    sims = np.ascontiguousarray(transposed.sims, dtype=np.float32)
    control = np.zeros(2, dtype=np.int64)
    cls64 = np.ascontiguousarray(cls.reshape(-1), dtype=np.int64)
    initial64 = np.ascontiguousarray(initial, dtype=np.float64)
    args = (
        indptr, indices, sims, conf64, cls64, int(classes.size), initial64, int(budget), eta,
        objective == "full", bool(balance), control,
    )
    picks, gains, nbr = _run_with_progress(
        lambda: greedy_kernel(*args), control, int(budget), f"greedy ({objective} objective)", progress
    )
    if objective == "full":
        gains = _numpy_full_gains(indptr, indices, sims, conf64, picks, eta, progress=progress)
    return GreedyResult(indices=picks, gains=gains, neighborhood_confidence=nbr)


def _numpy_full_gains(
    indptr: np.ndarray,
    indices: np.ndarray,
    sims: np.ndarray,
    conf: np.ndarray,
    picks: np.ndarray,
    eta: float,
    chunk_edges: int = 1 << 22,
    progress: bool = False,
) -> np.ndarray:
    """The ``"full"`` gain of each pick as the Python engine computes it (numpy arithmetic).

    Replays the picks in order on the transposed graph, ``chunk_edges`` row entries at a time
    (at least one row): the arguments come from the compiled replay, the reference's
    :func:`~prune4rel.selection.greedy.tanh_gain` is applied to them, and each row's terms
    are summed with numpy's pairwise summation.

    Returns
    -------
    ndarray of float64, shape (budget,)
    """
    from prune4rel.selection.greedy_kernel import replay_full_arguments, segment_sums

    nbr = np.zeros(conf.shape[0], dtype=np.float64)
    lengths = indptr[picks + 1] - indptr[picks]
    ends = np.cumsum(lengths)
    gains = np.empty(picks.shape[0], dtype=np.float64)
    lo = 0
    bar = tqdm(total=picks.shape[0], desc="greedy (full objective): gains", unit="pick", disable=not progress)
    while lo < picks.shape[0]:
        done = ends[lo - 1] if lo else 0
        hi = int(np.searchsorted(ends, done + chunk_edges, side="right"))
        hi = min(max(hi, lo + 1), picks.shape[0])
        size = int(ends[hi - 1] - done)
        base = np.empty(size, dtype=np.float64)
        delta = np.empty(size, dtype=np.float64)
        replay_full_arguments(indptr, indices, sims, conf, picks[lo:hi], nbr, eta, base, delta)
        diff = tanh_gain(base, delta)
        bounds = np.concatenate([[0], ends[lo:hi] - done]).astype(np.int64)
        segment_sums(diff, bounds, gains[lo:hi])
        bar.update(hi - lo)
        lo = hi
    bar.close()
    return gains
