"""Million-scale selection on one machine: exact graph vs faiss IVF / HNSW, compiled greedy.

    python benchmarks/bench_scale.py                          # n = 50k and 200k, d = 512
    python benchmarks/bench_scale.py --sizes 20000 --cases exact ivf   # a quick look

Synthetic clustered embeddings (benchmarks/synthetic.py ``clustered_arrays``: 1,000 classes,
8 sub-clusters each, 30% label noise) are written once per size to a ``.npy`` file and read
back memory-mapped by every later stage. Each stage runs in a fresh process, so the peak RSS
printed is that stage's own (it includes the interpreter with numpy/torch/faiss imported):

* ``embeddings``: generate and write the .npy file;
* ``graph``: the tau-graph from the memory map (exact blocked products with cluster pruning,
  or a faiss k-NN graph, k = 32, IVF-flat or HNSW-flat, library defaults; ``ivf-pca256``
  searches IVF-flat after a PCA to 256 features, for ``--dim 2048``; ``exact-sqrtn`` is the
  exact graph with the former default of ``sqrt(n)`` centroids, a same-run baseline);
* ``greedy``: Prune4ReL's lazy greedy (published and full objectives, class round-robin) on
  that graph with the compiled numba engine (timed after loading the kernel from numba's
  cache); the Python reference engine runs on the exact graph up to ``--python-max-n``.

For each approximate graph the last columns give the recall of the tau-neighbourhood on 1,000
sampled rows, the objective of its selection evaluated on the *exact* graph divided by the
objective of the exact graph's own selection, and the overlap of the two selected sets.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

GRAPHS = {
    "exact": {},
    "exact-sqrtn": {},  # the exact plan with the former default of sqrt(n) centroids: a baseline
    "ivf": {"index": "ivf"},
    "hnsw": {"index": "hnsw"},
    "ivf-pca256": {"index": "ivf", "pca_dim": 256},
}
DEFAULT_CASES = ["exact", "ivf", "hnsw"]
K = 32


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _stage_embeddings(work: str, n: int, dim: int, classes: int, seed: int) -> dict:
    from synthetic import clustered_arrays

    start = time.perf_counter()
    mm = np.lib.format.open_memmap(f"{work}/emb.npy", mode="w+", dtype=np.float32, shape=(n, dim))
    # angles as at d = 512 whatever the dimension, so --dim 2048 keeps the same neighbourhoods
    _, labels, conf = clustered_arrays(n=n, dim=dim, classes=classes, seed=seed, out=mm, angles_of_dim=512)
    mm.flush()
    del mm
    np.savez(f"{work}/meta.npz", labels=labels, conf=conf)
    return {"seconds": time.perf_counter() - start, "peak": _peak_mib()}


def _stage_graph(work: str, name: str, tau: float) -> dict:
    from prune4rel.neighbors import exact_graph, faiss_graph, neighbor_recall

    emb = np.load(f"{work}/emb.npy", mmap_mode="r")
    start = time.perf_counter()
    if name == "exact":
        graph = exact_graph(emb, tau)
    elif name == "exact-sqrtn":
        graph = exact_graph(emb, tau, clusters=int(np.sqrt(emb.shape[0])))
    else:
        graph = faiss_graph(emb, tau, K, **GRAPHS[name])
    seconds = time.perf_counter() - start
    peak = _peak_mib()
    np.savez(f"{work}/graph_{name}.npz", indptr=graph.indptr, indices=graph.indices, sims=graph.sims)
    out = {"seconds": seconds, "peak": peak, "nnz": graph.nnz, "symmetric": graph.symmetric}
    if not name.startswith("exact"):
        out["recall"] = neighbor_recall(graph, emb, tau, sample=1000, seed=0)
    return out


def _load_graph(work: str, name: str, tau: float, symmetric: bool):
    from prune4rel.neighbors import CSRGraph

    z = np.load(f"{work}/graph_{name}.npz")
    return CSRGraph(z["indptr"], z["indices"], z["sims"], tau, symmetric)


def _stage_greedy(
    work: str, name: str, tau: float, symmetric: bool, fraction: float, engine: str, objective: str
) -> dict:
    from prune4rel.neighbors import GraphRows, exact_graph
    from prune4rel.selection.greedy import lazy_greedy
    from prune4rel.selection.greedy_numba import compiled_lazy_greedy

    graph = _load_graph(work, name, tau, symmetric)
    meta = np.load(f"{work}/meta.npz")
    labels, conf = meta["labels"], meta["conf"]
    budget = round(fraction * graph.n)
    warm = 0.0
    if engine == "numba":  # load the compiled kernel from numba's cache (or compile) first
        start = time.perf_counter()
        tiny = exact_graph(np.eye(3), tau, None if symmetric else 2)
        compiled_lazy_greedy(tiny, np.ones(3), np.arange(3), 2, objective=objective)
        warm = time.perf_counter() - start
    start = time.perf_counter()
    if engine == "numba":
        result = compiled_lazy_greedy(graph, conf, labels, budget, objective=objective)
    else:
        result = lazy_greedy(GraphRows(graph), conf, labels, budget, objective=objective)
    seconds = time.perf_counter() - start
    np.save(f"{work}/picks_{name}_{engine}_{objective}.npy", result.indices)
    return {"seconds": seconds, "peak": _peak_mib(), "warm": warm}


def _child(fn, args, queue) -> None:
    try:
        queue.put(("ok", fn(*args)))
    except BaseException as exc:  # report, don't hang the parent
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def run(fn, *args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    status, out = queue.get()
    proc.join()
    if status != "ok":
        raise RuntimeError(out)
    return out


def objective_on(graph, conf: np.ndarray, picks: np.ndarray) -> float:
    """f(S) = sum_x tanh(N(x; S)) on ``graph`` (eta = 1)."""
    weights = np.zeros(graph.n)
    weights[picks] = conf[picks]
    return float(np.tanh(graph.to_scipy().astype(np.float64) @ weights).sum())


def line(n: int, stage: str, case: str, seconds: float, peak: float, notes: str = "") -> None:
    print(f"{n:>8} {stage:>10} {case:>19} {seconds:9.2f} {peak:9.0f}  {notes}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000])
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--tau", type=float, default=0.975)
    ap.add_argument("--fraction", type=float, default=0.2)
    ap.add_argument("--cases", nargs="+", default=DEFAULT_CASES, choices=list(GRAPHS))
    ap.add_argument("--objectives", nargs="+", default=["published", "full"], choices=["published", "full"])
    ap.add_argument("--python-max-n", type=int, default=200_000, help="largest n of the Python-engine run")
    ap.add_argument("--workdir", default="/tmp/prune4rel_bench_scale")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reuse", action="store_true", help="reuse the embeddings and graphs of --workdir")
    args = ap.parse_args()
    print(
        f"# d={args.dim} classes={args.classes} tau={args.tau} fraction={args.fraction} k={K} "
        f"(faiss) cpus={os.cpu_count()}; stages in fresh processes, peak RSS per stage"
    )
    print(f"{'n':>8} {'stage':>10} {'case':>19} {'seconds':>9} {'peak_MiB':>9}  notes")
    for n in args.sizes:
        work = f"{args.workdir}/n{n}"
        os.makedirs(work, exist_ok=True)
        if not (args.reuse and os.path.exists(f"{work}/meta.npz")):
            out = run(_stage_embeddings, work, n, args.dim, args.classes, args.seed)
            size = f"{4 * n * args.dim / 2**20:.0f} MiB file"
            line(n, "embeddings", "synthetic.npy", out["seconds"], out["peak"], size)
        meta = np.load(f"{work}/meta.npz")
        conf = meta["conf"]
        graphs: dict[str, bool] = {}
        for name in args.cases:
            if args.reuse and os.path.exists(f"{work}/graph_{name}.npz"):
                graphs[name] = name == "exact"
                continue
            out = run(_stage_graph, work, name, args.tau)
            graphs[name] = out["symmetric"]
            note = f"nnz={out['nnz']}"
            if "recall" in out:
                note += f", recall@tau={out['recall']:.4f}"
            line(n, "graph", name, out["seconds"], out["peak"], note)
        exact_graph = _load_graph(work, "exact", args.tau, True) if "exact" in graphs else None
        for objective in args.objectives:
            base_picks = None
            for name, symmetric in graphs.items():
                engines = ["numba"] + (["python"] if n <= args.python_max_n and name == "exact" else [])
                for engine in engines:
                    stage_args = (work, name, args.tau, symmetric, args.fraction, engine, objective)
                    out = run(_stage_greedy, *stage_args)
                    picks = np.load(f"{work}/picks_{name}_{engine}_{objective}.npy")
                    note = f"kernel load {out['warm']:.1f}s; " if engine == "numba" else ""
                    if name == "exact" and engine == "numba":
                        base_picks = picks
                        note += f"f(S)={objective_on(exact_graph, conf, picks):.1f}"
                    elif name == "exact":
                        note += f"reference engine; same picks as numba: {np.array_equal(picks, base_picks)}"
                    elif exact_graph is not None and base_picks is not None:
                        ratio = objective_on(exact_graph, conf, picks)
                        ratio /= objective_on(exact_graph, conf, base_picks)
                        overlap = np.intersect1d(picks, base_picks).size / base_picks.size
                        note += f"objective ratio (on exact graph) {ratio:.4f}, overlap {overlap:.4f}"
                    case = f"{name}/{engine}/{objective[:4]}"
                    line(n, "greedy", case, out["seconds"], out["peak"], note)


if __name__ == "__main__":
    main()
