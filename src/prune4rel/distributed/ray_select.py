"""Prune4ReL selection sharded over Ray tasks, merged by a GreeDi-style second round.

Algorithm (``n`` examples, budget ``k``, ``s`` shards, over-selection factor ``alpha >= 1``)
-----------------------------------------------------------------------------------------
1. **Partition** (driver, labels only or a sample of rows):

   * ``partition="class"``: whole classes are packed into ``s`` shards of similar size
     (largest class first, into the currently smallest shard). Needs ``s <= C``.
   * ``partition="kmeans"``: spherical k-means with ``s`` centroids is fitted on a sample of
     rows read by the driver (:func:`~prune4rel.neighbors.clusters.spherical_kmeans`); Ray tasks
     then assign row chunks to their most similar centroid. Empty shards are dropped.

2. **Shares.** ``q_c``, the number of picks class ``c`` gets on one machine, is computed
   from the labels: with ``balance=True`` by replaying the published class round-robin
   (:class:`~prune4rel.selection.greedy.RoundRobin`); picks after it turns unconstrained (a
   data-dependent phase) are shared in proportion to the classes' unpicked sizes; with
   ``balance=False`` in proportion to class sizes
   (:func:`~prune4rel.selection.base.class_budgets`). A class shard's share is
   ``k_j = sum_{c in j} q_c``; a k-means shard's share is proportional to its size. The
   shares sum to ``k``.

3. **Round 1** (one Ray task per shard): the task reads only its rows of the embeddings
   (``np.load(path, mmap_mode="r")[rows]``) and runs the single-machine selector,
   ``Prune4ReL(**params).select(shard_signals, m_j)``, with ``m_j = min(|shard|,
   max(ceil(alpha * k_j), classes in the shard))`` candidates: the shard's own neighbour
   graph and greedy. Class shards keep the requested ``balance``; k-means shards run
   unconstrained (``balance=False``): a cluster holds its classes in very unequal numbers,
   and the round-robin would spend the shard's picks on exhausting its rare labels.

4. **Round 2** (one Ray task): the union ``U`` of all candidates (sorted ids, ``|U| >= k``)
   is the ground set of a second ``Prune4ReL(**params).select(U_signals, k)``, with the
   requested ``balance`` over the given labels, on the neighbour graph of ``U``. Its picks,
   in order, are the result.

With ``shards=1`` one task runs the single-machine selector on all rows: the result is
identical to :class:`~prune4rel.selection.Prune4ReL` and ``objective`` is ``f(S)``.

Guarantees and limits
---------------------
* ``objective="published"``: the score of a candidate ``x``, ``tanh((N(x) + conf(x))/eta) -
  tanh(N(x)/eta)``, depends on ``N(x)``, i.e. on the similarities between ``x`` and earlier
  picks, all inside ``U``. Round 2 is therefore exactly the single-machine published greedy
  restricted to the ground set ``U`` (ids are sorted, so ties still go to the lowest id).
  When no tau-neighbourhood crosses classes, a class's picks on one machine are a prefix of
  that class's own greedy sequence, and so are its round-1 candidates under class
  partition; round 2 then reproduces the single-machine selection and its order exactly
  as long as each class has at least ``q_c`` candidates (and one when ``q_c = 0``), which the
  shares guarantee for equally sized classes and ``alpha >= 1``.
* ``objective="full"``: round 2's marginal gains count only the neighbours inside ``U``
  (GreeDi's evaluation on local data for decomposable objectives), not all ``n`` examples.
* GreeDi (Mirzasoleiman et al., NeurIPS 2013) returns the better of the merged solution and
  the best single-machine solution, which gives ``(1 - 1/e)^2 / min(s, k)`` for unconstrained
  monotone submodular maximisation (``(1 - 1/e) / 2`` in expectation for a random
  partition). Here a shard's solution is not a feasible answer (it has ``m_j`` picks from
  its own classes, not ``k`` balanced ones), and comparing would need ``f`` on all ``n``
  examples, as costly as the single-machine graph, so that comparison is left out and no
  worst-case bound is claimed under class balance; quality is measured instead
  (``benchmarks/bench_distributed.py``, ``tests/test_ray_select.py``).
* With several shards ``objective`` is None (``f`` over all examples would need every
  example's similarity to the picks); ``extras["pool_objective"]`` is ``f`` over ``U``.
* Round 2 is one task on ``|U| ~ alpha * k`` rows: it bounds the speed-up at large budgets.

Memory
------
With a path, the driver holds labels, probabilities (``n x C``), id arrays and, for k-means,
one sample of rows; each task holds its shard's rows and neighbour graph. An in-memory array
is put in the Ray object store once (convenient on one machine; the driver then holds it,
so use the path form at scale). On a cluster the path must be readable on every node (a
shared file system) and prune4rel installed there.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np

from prune4rel.neighbors.clusters import spherical_kmeans
from prune4rel.neighbors.similarity import unit_rows
from prune4rel.selection.base import Selection, class_budgets, get_selector, resolve_budget
from prune4rel.selection.greedy import RoundRobin
from prune4rel.selection.prune4rel_selector import Prune4ReL, resolve_tau
from prune4rel.signals import Signals

__all__ = ["PARTITIONS", "ray_select"]

PARTITIONS = ("class", "kmeans")
_ASSIGN_CHUNK = 65536


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ImportError("distributed selection needs Ray: pip install 'prune4rel[distributed]'") from exc
    return ray


def _read_rows(source: str | np.ndarray, rows: np.ndarray | slice) -> np.ndarray:
    """Rows of the embeddings: from a .npy path (memory-mapped) or an in-memory array."""
    emb = np.load(source, mmap_mode="r", allow_pickle=False) if isinstance(source, str) else source
    return np.asarray(emb[rows])


def _select_rows(
    source: str | np.ndarray,
    rows: np.ndarray,
    labels: np.ndarray,
    probs: np.ndarray,
    count: int,
    params: dict[str, Any],
) -> dict[str, Any]:
    """Ray task body: the single-machine selector on ``rows`` (sorted global ids)."""
    start = time.perf_counter()
    emb = _read_rows(source, rows)
    read = time.perf_counter() - start
    result = Prune4ReL(**params).select(Signals(labels=labels, probs=probs, embeddings=emb), count)
    return {
        "picks": rows[result.indices],
        "gains": result.gains,
        "objective": result.objective,
        "neighborhood_confidence": result.extras["neighborhood_confidence"],
        "read_seconds": read,
        "seconds": time.perf_counter() - start,
    }


def _assign_chunk(source: str | np.ndarray, lo: int, hi: int, centroids: np.ndarray) -> np.ndarray:
    """Ray task body: most similar centroid of rows ``lo .. hi-1`` (int32, shape (hi-lo,))."""
    unit, _ = unit_rows(_read_rows(source, slice(lo, hi)))
    return np.argmax(unit @ centroids.T, axis=1).astype(np.int32)


def _class_counts(labels: np.ndarray, budget: int, balance: bool) -> dict[int, int]:
    """Picks per class on one machine (estimated after the round-robin turns unconstrained)."""
    if not balance:
        return class_budgets(labels, budget)
    schedule = RoundRobin(labels, balance=True)
    for step in range(budget):
        target = schedule.target(step)
        if target is None:
            left = np.repeat(list(schedule.remaining), list(schedule.remaining.values()))
            rest = class_budgets(left, budget - step)
            return {c: schedule.picked[c] + rest.get(c, 0) for c in schedule.size}
        schedule.record(target)
    return dict(schedule.picked)


def _class_groups(labels: np.ndarray, shards: int) -> list[np.ndarray]:
    """Classes packed into ``shards`` groups of similar total size (largest class first)."""
    classes, sizes = np.unique(labels, return_counts=True)
    if shards > classes.size:
        raise ValueError(
            f"`shards` = {shards} exceeds the {classes.size} classes that partition='class' can "
            "spread; use fewer shards or partition='kmeans'"
        )
    totals = np.zeros(shards, dtype=np.int64)
    members: list[list[int]] = [[] for _ in range(shards)]
    for c in np.lexsort((classes, -sizes)):
        j = int(np.argmin(totals))
        members[j].append(int(classes[c]))
        totals[j] += sizes[c]
    return [np.array(sorted(m), dtype=np.int64) for m in members]


def _kmeans_assign(ray: Any, source: Any, n: int, shards: int, seed: int, sample: np.ndarray) -> np.ndarray:
    """Shard of every row: centroids from ``sample`` rows, assignment in Ray tasks by chunk."""
    unit, _ = unit_rows(sample)
    centroids = spherical_kmeans(unit, shards, seed=seed)
    task = ray.remote(_assign_chunk)
    bounds = [(lo, min(lo + _ASSIGN_CHUNK, n)) for lo in range(0, n, _ASSIGN_CHUNK)]
    refs = [task.remote(source, lo, hi, centroids) for lo, hi in bounds]
    return np.concatenate(ray.get(refs))


def _check_inputs(
    embeddings: str | os.PathLike[str] | np.ndarray,
    labels: np.ndarray,
    probs: np.ndarray,
    shards: int,
    partition: str,
    alpha: float,
) -> tuple[str | np.ndarray, int]:
    """Validate the arguments; return the embeddings source and ``n``."""
    if isinstance(shards, bool) or not isinstance(shards, int | np.integer) or shards < 1:
        raise ValueError(f"`shards` must be an integer >= 1, got {shards!r}")
    if partition not in PARTITIONS:
        raise ValueError(f"`partition` must be one of {PARTITIONS}, got {partition!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not math.isfinite(alpha) or alpha < 1:
        raise ValueError(f"`alpha` must be a finite number >= 1, got {alpha!r}")
    if isinstance(embeddings, np.ndarray):
        source: str | np.ndarray = embeddings
        shape = embeddings.shape
    elif isinstance(embeddings, str | os.PathLike):
        source = os.fspath(embeddings)
        if not os.path.isfile(source):
            raise ValueError(f"`embeddings` file {source!r} does not exist")
        shape = np.load(source, mmap_mode="r", allow_pickle=False).shape
    else:
        raise ValueError(f"`embeddings` must be a .npy path or an ndarray, got {type(embeddings).__name__}")
    if len(shape) != 2 or shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"`embeddings` must be a non-empty (n, d) array, got shape {shape}")
    n = int(shape[0])
    if np.shape(labels)[:1] != (n,) or np.shape(probs)[:1] != (n,):
        raise ValueError(
            f"`labels` {np.shape(labels)} and `probs` {np.shape(probs)} must have n = {n} rows "
            "like `embeddings`"
        )
    return source, n


def ray_select(
    embeddings: str | os.PathLike[str] | np.ndarray,
    labels: np.ndarray,
    probs: np.ndarray,
    budget: int | float,
    *,
    shards: int = 4,
    partition: str = "class",
    alpha: float = 2.0,
    address: str | None = None,
    num_cpus: int | None = None,
    seed: int = 0,
    kmeans_sample: int = 65536,
    **params: Any,
) -> Selection:
    """Prune4ReL selection sharded over Ray tasks (see the module docstring for the algorithm).

    Parameters
    ----------
    embeddings : str, path-like or ndarray, shape (n, d)
        A ``.npy`` file (the scalable form: every task memory-maps it and reads only its
        rows; on a cluster it must be readable on every node), or an in-memory array (put
        in the Ray object store once; the driver holds it).
    labels : ndarray of int, shape (n,)
        Given labels.
    probs : ndarray of float, shape (n, C)
        Softmax probabilities.
    budget : int or float
        Count in ``[1, n]`` or fraction in ``(0, 1]``.
    shards : int, default 4
        Number of shards (>= 1; at most the number of classes with ``partition="class"``).
    partition : {"class", "kmeans"}, default "class"
        Whole classes per shard, or a spherical k-means partition of the embeddings.
    alpha : float, default 2.0
        Round-1 over-selection: a shard proposes ``ceil(alpha * share)`` candidates (>= 1).
    address : str, optional
        Ray cluster address (``"auto"``, ``"ray://host:10001"``, ...). None starts a local
        runtime. An already initialised runtime is used as it is and never shut down; a
        runtime this function starts is shut down before it returns.
    num_cpus : int, optional
        CPUs of a local runtime (None: all).
    seed : int, default 0
        Seed of the k-means sample and centroids.
    kmeans_sample : int, default 65536
        Rows the driver reads to fit the k-means centroids.
    **params
        Hyper-parameters of :class:`~prune4rel.selection.Prune4ReL` (``tau``, ``eta``,
        ``confidence``, ``balance``, ``objective``, ``backend``, ``k``, ``engine``, ...);
        ``progress`` is ignored (tasks run silently). ``target_degree`` is resolved to one
        ``tau`` on the whole set before sharding (a shard's own calibration would see fewer
        neighbours).

    Returns
    -------
    Selection
        ``indices`` (k,) in round-2 pick order; ``gains`` (k,) round-2 scores; ``objective``
        ``f(S)`` with one shard, else None; ``params`` the selector's plus ``shards``,
        ``partition``, ``alpha``; ``extras``: ``shard_sizes``, ``shard_candidates``,
        ``shard_seconds``, ``shard_read_seconds`` (each (shards,)), ``partition_seconds``,
        ``round2_seconds``, ``pool_size``, ``pool_objective`` (0-d), and with one shard
        ``neighborhood_confidence`` (n,).

    Raises
    ------
    ValueError
        For bad shards, partition, alpha, budget, selector parameters or arrays, and when
        Ray cannot start locally or reach the cluster at `address`.
    ImportError
        When Ray is not installed.
    """
    start = time.perf_counter()
    source, n = _check_inputs(embeddings, labels, probs, shards, partition, alpha)
    params.pop("progress", None)
    params = {**get_selector("prune4rel", **params).get_params(), "progress": False}
    if params["target_degree"] is not None:  # one tau for every shard, from the whole set
        emb = np.load(source, mmap_mode="r", allow_pickle=False) if isinstance(source, str) else source
        params["tau"] = resolve_tau(emb, params["tau"], params["target_degree"], device=params["device"])
        params["target_degree"] = None
    # validates labels and probs (the embeddings are checked by the tasks, row by row)
    checked = Signals(labels=labels, probs=probs, embeddings=np.zeros((n, 1), dtype=np.float32))
    labels, probs = checked.labels, checked.probs
    count = resolve_budget(budget, n)

    ray = _import_ray()
    started = not ray.is_initialized()
    if started:
        if address is not None and num_cpus is not None:
            raise ValueError("`num_cpus` applies to a local Ray runtime only, not with `address`")
        try:
            ray.init(address=address, num_cpus=num_cpus, include_dashboard=False)
        except (ConnectionError, TimeoutError) as exc:
            where = "a local Ray runtime" if address is None else f"the Ray cluster at {address!r}"
            raise ValueError(f"cannot start or reach {where}: {exc}") from exc
    try:
        data = source if isinstance(source, str) else ray.put(source)
        task = ray.remote(_select_rows)
        t0 = time.perf_counter()
        if shards == 1:
            rows = [np.arange(n)]
            wanted = [count]
        elif partition == "class":
            groups = _class_groups(labels, shards)
            rows = [np.flatnonzero(np.isin(labels, g)) for g in groups]
            per_class = _class_counts(labels, count, params["balance"])
            wanted = [sum(per_class[int(c)] for c in g) for g in groups]
        else:
            rng = np.random.default_rng(seed)
            sample = np.sort(rng.choice(n, size=min(n, kmeans_sample), replace=False))
            assign = _kmeans_assign(ray, data, n, shards, seed, _read_rows(source, sample))
            rows = [r for r in (np.flatnonzero(assign == j) for j in range(shards)) if r.size]
            share = class_budgets(np.repeat(np.arange(len(rows)), [r.size for r in rows]), count)
            wanted = [share[j] for j in range(len(rows))]
        partition_seconds = time.perf_counter() - t0

        if shards == 1:
            one = ray.get(task.remote(data, rows[0], labels, probs, count, params))
            indices, gains, objective = one["picks"], one["gains"], one["objective"]
            outs, pool, round2 = [one], rows[0], one
            extras: dict[str, np.ndarray] = {"neighborhood_confidence": one["neighborhood_confidence"]}
        else:
            shard_params = {**params, "balance": params["balance"] and partition == "class"}
            proposals = []
            for r, w in zip(rows, wanted):
                least = np.unique(labels[r]).size if shard_params["balance"] else 1
                m = min(r.size, max(math.ceil(alpha * w), least))
                proposals.append(task.remote(data, r, labels[r], probs[r], m, shard_params))
            outs = ray.get(proposals)
            pool = np.unique(np.concatenate([o["picks"] for o in outs]))
            round2 = ray.get(task.remote(data, pool, labels[pool], probs[pool], count, params))
            indices, gains, objective = round2["picks"], round2["gains"], None
            extras = {}
    finally:
        if started:
            ray.shutdown()

    extras.update(
        {
            "shard_sizes": np.array([r.size for r in rows]),
            "shard_candidates": np.array([o["picks"].size for o in outs]),
            "shard_seconds": np.array([o["seconds"] for o in outs]),
            "shard_read_seconds": np.array([o["read_seconds"] for o in outs]),
            "partition_seconds": np.array(partition_seconds),
            "round2_seconds": np.array(round2["seconds"]),
            "pool_size": np.array(pool.size),
            "pool_objective": np.array(round2["objective"]),
        }
    )
    return Selection(
        indices=np.asarray(indices, dtype=np.int64),
        gains=np.asarray(gains, dtype=np.float64),
        objective=objective,
        method="prune4rel",
        params={**params, "shards": shards, "partition": partition, "alpha": alpha},
        seconds=time.perf_counter() - start,
        extras=extras,
    )
