"""Compiled (numba) lazy greedy on a CSR graph, for both Prune4ReL objectives.

A line-by-line port of :func:`prune4rel.selection.greedy.lazy_greedy` (the reference engine)
to nopython code. It follows the same rules so that it picks the same examples:

* one binary heap per class (one global heap when unconstrained), keyed by
  ``(-bound, index)``, so the top is the largest bound with ties to the lowest index;
* lazy evaluation with the same acceptance test ``current >= bound - 1e-12 * |bound|``;
* the published class round-robin, including the switch to unconstrained picks, which
  merges every remaining heap entry into one heap;
* the same floating-point operations in the same order: the update
  ``N[x] += sim(x, s) * conf(s)``, the cancellation-free score
  ``tanh(b + d) - tanh(b)`` of :func:`prune4rel.selection.greedy.tanh_gain` with the C
  library ``exp``/``expm1`` (what :mod:`math` calls, as the reference's published score
  does), and for the ``"full"`` score numpy's pairwise summation.

One difference cannot be ported: the ``"full"`` reference evaluates the formula with numpy's
array ``exp``/``expm1``, which may use SIMD code that differs from the C library in the last
bit, so ``"full"`` scores re-evaluated here may differ by a few units in the last place (the
initial scores are computed with numpy by the caller and are identical); a pick can only
differ on a tie that close. :func:`replay_full_arguments` and :func:`segment_sums` let the
caller recompute the reported ``"full"`` gains with numpy. The ``"published"`` engine is
bit-for-bit identical.

Memory: ``O(n)`` for the heaps and state plus the caller's graph arrays (``O(nnz)``);
similarities are read as float32 and widened one at a time.

Import this module only when numba is installed (``prune4rel.selection`` guards it).
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["greedy_kernel", "replay_full_arguments", "segment_sums"]

_RTOL = 1e-12


@numba.njit(cache=True, nogil=True)
def _sift_down(keys: np.ndarray, ids: np.ndarray, lo: int, size: int, pos: int) -> None:
    """Restore the heap property of ``keys[lo:lo+size]`` below position ``pos``."""
    key = keys[lo + pos]
    idx = ids[lo + pos]
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        right = child + 1
        if right < size:
            kc, kr = keys[lo + child], keys[lo + right]
            if kr < kc or (kr == kc and ids[lo + right] < ids[lo + child]):
                child = right
        kc = keys[lo + child]
        ic = ids[lo + child]
        if kc < key or (kc == key and ic < idx):
            keys[lo + pos] = kc
            ids[lo + pos] = ic
            pos = child
        else:
            break
    keys[lo + pos] = key
    ids[lo + pos] = idx


@numba.njit(cache=True, nogil=True)
def _heapify(keys: np.ndarray, ids: np.ndarray, lo: int, size: int) -> None:
    for pos in range(size // 2 - 1, -1, -1):
        _sift_down(keys, ids, lo, size, pos)


@numba.njit(cache=True, nogil=True)
def _leaf_sum(a: np.ndarray, lo: int, n: int) -> float:
    """numpy's pairwise-summation leaf (``n <= 128``): eight accumulators, then the rest."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    m = n - n % 8
    for i in range(8, m, 8):
        j = lo + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(m, n):
        res += a[lo + i]
    return res


@numba.njit(cache=True, nogil=True)
def _pairwise_sum(a: np.ndarray, lo: int, n: int) -> float:
    """``a[lo:lo+n].sum()`` with numpy's pairwise summation (same rounding).

    numpy splits ``n > 128`` into ``h = n // 2 - (n // 2) % 8`` and ``n - h`` elements and
    adds the two partial sums; this walks the same tree with an explicit stack (numba's
    cache does not support recursive functions).
    """
    if n <= 128:
        return _leaf_sum(a, lo, n)
    los = np.empty(64, dtype=np.int64)
    ns = np.empty(64, dtype=np.int64)
    state = np.zeros(64, dtype=np.int64)  # 0: expand, 1: left pending, 2: right pending
    left = np.empty(64, dtype=np.float64)
    top = 0
    los[0], ns[0], state[0] = lo, n, 0
    ret = 0.0
    returning = False
    while True:
        if returning:
            if top < 0:
                return ret
            if state[top] == 1:
                left[top] = ret
                state[top] = 2
                half = ns[top] // 2
                half -= half % 8
                top += 1
                los[top], ns[top], state[top] = los[top - 1] + half, ns[top - 1] - half, 0
                returning = False
            else:
                ret = left[top] + ret
                top -= 1
            continue
        m = ns[top]
        if m <= 128:
            ret = _leaf_sum(a, los[top], m)
            top -= 1
            returning = True
            continue
        half = m // 2
        half -= half % 8
        state[top] = 1
        top += 1
        los[top], ns[top], state[top] = los[top - 1], half, 0


@numba.njit(cache=True, nogil=True)
def _tanh_gain(base: float, delta: float) -> float:
    """``tanh(base + delta) - tanh(base)`` without cancellation (the reference's formula)."""
    eb = math.exp(-2.0 * base)
    return -2.0 * eb * math.expm1(-2.0 * delta) / ((1.0 + math.exp(-2.0 * (base + delta))) * (1.0 + eb))


@numba.njit(cache=True, nogil=True)
def _score(
    x: int,
    full: bool,
    indptr: np.ndarray,
    indices: np.ndarray,
    sims: np.ndarray,
    conf: np.ndarray,
    nbr: np.ndarray,
    eta: float,
    scratch: np.ndarray,
) -> float:
    if not full:
        return _tanh_gain(nbr[x] / eta, conf[x] / eta)
    lo, hi = indptr[x], indptr[x + 1]
    ce = conf[x] / eta
    for j in range(lo, hi):
        scratch[j - lo] = _tanh_gain(nbr[indices[j]] / eta, np.float64(sims[j]) * ce)
    return 0.0 + _pairwise_sum(scratch, 0, hi - lo)


@numba.njit(cache=True, nogil=True)
def greedy_kernel(
    indptr: np.ndarray,
    indices: np.ndarray,
    sims: np.ndarray,
    conf: np.ndarray,
    cls: np.ndarray,
    num_classes: int,
    initial: np.ndarray,
    budget: int,
    eta: float,
    full: bool,
    balance: bool,
    control: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the lazy greedy; see the module docstring for the rules.

    Parameters
    ----------
    indptr : ndarray of int64, shape (n + 1,)
    indices : ndarray of int32 or int64, shape (nnz,)
    sims : ndarray of float32, shape (nnz,)
        The *transposed* graph: row ``s`` lists every ``x`` whose neighbourhood holds ``s``.
    conf : ndarray of float64, shape (n,)
    cls : ndarray of int64, shape (n,)
        Class rank of each example in ``[0, num_classes)`` (rank in ascending label order).
    num_classes : int
    initial : ndarray of float64, shape (n,)
        Initial scores (``tanh(conf / eta)`` or ``f({s})``), computed by the caller.
    budget : int
        ``1 <= budget <= n``.
    eta : float
    full : bool
        ``"full"`` objective (True) or ``"published"`` (False).
    balance : bool
        Class round-robin (True) or unconstrained (False).
    control : ndarray of int64, shape (2,)
        ``control[0]`` is set to the number of picks made after each pick (for a progress
        bar read from another thread); a non-zero ``control[1]`` stops the greedy before
        its next pick (the outputs are then incomplete).

    Returns
    -------
    picks : ndarray of int64, shape (budget,)
    gains : ndarray of float64, shape (budget,)
    nbr : ndarray of float64, shape (n,)
        Final neighbourhood confidence ``N(x; S)``.
    """
    n = conf.shape[0]
    nbr = np.zeros(n, dtype=np.float64)
    max_deg = 1
    if full:
        for s in range(n):
            max_deg = max(max_deg, indptr[s + 1] - indptr[s])
    scratch = np.empty(max_deg, dtype=np.float64)

    # heaps: class c occupies keys[start[c] : start[c] + hsize[c]] (one heap when unbalanced)
    keys = np.empty(n, dtype=np.float64)
    ids = np.empty(n, dtype=np.int64)
    size = np.zeros(num_classes, dtype=np.int64)
    for x in range(n):
        size[cls[x]] += 1
    start = np.zeros(num_classes + 1, dtype=np.int64)
    for c in range(num_classes):
        start[c + 1] = start[c] + size[c]
    hsize = np.zeros(num_classes, dtype=np.int64)
    if balance:
        for x in range(n):
            c = cls[x]
            pos = start[c] + hsize[c]
            keys[pos] = -initial[x]
            ids[pos] = x
            hsize[c] += 1
        for c in range(num_classes):
            _heapify(keys, ids, start[c], hsize[c])
    else:
        for x in range(n):
            keys[x] = -initial[x]
            ids[x] = x
    merged = not balance
    merged_size = n
    if merged:
        _heapify(keys, ids, 0, n)

    # round-robin state (RoundRobin in selection/greedy.py)
    remaining = size.copy()
    picked = np.zeros(num_classes, dtype=np.int64)
    active = np.arange(num_classes)
    n_active = num_classes
    first_size = -1
    unconstrained = not balance
    switch_after = False

    picks = np.empty(budget, dtype=np.int64)
    gains = np.empty(budget, dtype=np.float64)
    for step in range(budget):
        if control[1] != 0:
            break
        target = -1
        if not unconstrained:
            t = active[step % n_active]
            while remaining[t] == 0:
                if first_size < 0:
                    first_size = size[t]
                k = 0
                while active[k] != t:
                    k += 1
                for m in range(k, n_active - 1):
                    active[m] = active[m + 1]
                n_active -= 1
                t = active[step % n_active]
                if picked[t] > 1.5 * first_size:
                    switch_after = True
            target = t
        if target < 0 and not merged:
            w = 0
            for c in range(num_classes):
                for p in range(start[c], start[c] + hsize[c]):
                    keys[w] = keys[p]
                    ids[w] = ids[p]
                    w += 1
            merged_size = w
            _heapify(keys, ids, 0, merged_size)
            merged = True
        if target < 0:
            lo, hsz = 0, merged_size
        else:
            lo, hsz = start[target], hsize[target]
        # lazy pop of the best entry
        while True:
            neg_bound = keys[lo]
            x = ids[lo]
            current = _score(x, full, indptr, indices, sims, conf, nbr, eta, scratch)
            if current >= -neg_bound - _RTOL * abs(neg_bound):
                keys[lo] = keys[lo + hsz - 1]
                ids[lo] = ids[lo + hsz - 1]
                hsz -= 1
                _sift_down(keys, ids, lo, hsz, 0)
                break
            keys[lo] = -current
            _sift_down(keys, ids, lo, hsz, 0)
        if target < 0:
            merged_size = hsz
        else:
            hsize[target] = hsz
        picks[step] = x
        gains[step] = current
        c = cls[x]
        remaining[c] -= 1
        picked[c] += 1
        if switch_after:
            unconstrained = True
        cx = conf[x]
        for j in range(indptr[x], indptr[x + 1]):
            nbr[indices[j]] += np.float64(sims[j]) * cx
        control[0] = step + 1
    return picks, gains, nbr


@numba.njit(cache=True, nogil=True)
def replay_full_arguments(
    indptr: np.ndarray,
    indices: np.ndarray,
    sims: np.ndarray,
    conf: np.ndarray,
    picks: np.ndarray,
    nbr: np.ndarray,
    eta: float,
    base: np.ndarray,
    delta: np.ndarray,
) -> None:
    """Replay ``picks`` from the state ``nbr`` (updated in place) and store the gain arguments.

    For pick ``s`` (in order) and each ``x`` in row ``s``, with ``N`` the state before the
    pick: ``base = N[x] / eta`` and ``delta = sim * (conf[s] / eta)``, written consecutively
    (row by row) into ``base`` / ``delta`` of length ``sum of row lengths``.
    ``tanh_gain(base, delta)`` summed per row is the ``"full"`` gain of each pick.
    """
    w = 0
    for t in range(picks.shape[0]):
        s = picks[t]
        cs = conf[s]
        ce = cs / eta
        for j in range(indptr[s], indptr[s + 1]):
            base[w] = nbr[indices[j]] / eta
            delta[w] = np.float64(sims[j]) * ce
            w += 1
        for j in range(indptr[s], indptr[s + 1]):
            nbr[indices[j]] += np.float64(sims[j]) * cs


@numba.njit(cache=True, nogil=True)
def segment_sums(values: np.ndarray, bounds: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = values[bounds[i]:bounds[i + 1]].sum()`` with numpy's pairwise summation."""
    for i in range(out.shape[0]):
        out[i] = 0.0 + _pairwise_sum(values, bounds[i], bounds[i + 1] - bounds[i])
