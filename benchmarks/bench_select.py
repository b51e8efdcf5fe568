"""Prune4ReL selection speed against the published dense greedy, measured in the same run.

    python benchmarks/bench_select.py                       # n=50k, d=512, 20% and 80%
    python benchmarks/bench_select.py --n 5000 --fractions 0.2   # a quick look

On a signals file instead (e.g. the shared CIFAR-10N worst signals, after
``prune4rel convert-signals``): k-center before (one matrix-vector product per pick in the
embeddings' own dtype, the previous implementation, kept as the numba-free fallback) and after
(compiled, with the principal-coordinate bound), and the ``full`` objective's compiled greedy
bare (as before, silent) and with its progress bars (as now)::

    python benchmarks/bench_select.py --signals worst.npz --kcenter 0.3 --full 0.3 --tau 0.95

Each case runs in a fresh process (so peak RSS is per case) on the same synthetic clustered
embeddings (benchmarks/synthetic.py: 10 classes, 30% label noise). Prints one line per case and
the speed-up of prune4rel (graph backend, published objective) over the baseline, whether both
picked the same set, and the time of the true greedy (objective="full") for reference.
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


def _case(method: str, n: int, dim: int, classes: int, fraction: float, seed: int, queue) -> None:
    from published_baseline import published_greedy
    from synthetic import clustered_signals

    from prune4rel.selection import Prune4ReL, resolve_budget

    sig = clustered_signals(n=n, dim=dim, classes=classes, seed=seed)
    budget = resolve_budget(fraction, n)
    start = time.perf_counter()
    extra = ""
    if method == "published":
        picks = published_greedy(sig.embeddings, sig.probs, sig.labels, budget)
    else:
        objective = "full" if method == "prune4rel-full" else "published"
        sel = Prune4ReL(objective=objective).select(sig, budget)
        picks = sel.indices
        extra = f"objective={sel.objective:.1f}"
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((np.asarray(picks), seconds, peak_mib, extra))


def run(method: str, *args, target=_case) -> tuple[np.ndarray, float, float, str]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(method, *args, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def _signals_case(case: str, path: str, fraction: float, tau: float, queue) -> None:
    """One timed case on a signals file: kcenter-matvec | kcenter-compiled | full-bare | full-progress."""
    from prune4rel.neighbors import build_graph
    from prune4rel.selection import resolve_budget
    from prune4rel.selection.greedy_kernel import greedy_kernel
    from prune4rel.selection.greedy_numba import _numpy_full_gains, compiled_lazy_greedy, full_initial_gains
    from prune4rel.selection.kcenter import _matvec_greedy, kcenter_greedy
    from prune4rel.signals import Signals

    sig = Signals.load(path)
    budget = resolve_budget(fraction, sig.n)
    extra = ""
    if case.startswith("kcenter"):
        x = np.ascontiguousarray(sig.embeddings)
        kcenter_greedy(x[:500], 5, 0)  # compile outside the timing
        start = time.perf_counter()
        if case == "kcenter-matvec":
            picks, radii = np.empty(budget, np.int64), np.empty(budget)
            min_dist = np.full(sig.n, np.inf)
            picks[0] = 0
            _matvec_greedy(x, budget, picks, radii, min_dist, _NoBar())
        else:
            picks, radii = kcenter_greedy(x, budget, 0, progress=True)
        extra = f"dtype {x.dtype}, last radius {radii[-1]:.6f}"
    else:
        from prune4rel.selection.prune4rel_selector import confidence_scores

        graph = build_graph(sig.embeddings, tau, backend="graph")
        conf = confidence_scores(sig.probs, "max_prob")
        start = time.perf_counter()
        if case == "full-progress":
            result = compiled_lazy_greedy(graph, conf, sig.labels, budget, objective="full", progress=True)
            picks = result.indices
        else:  # the same passes as compiled_lazy_greedy, called as before: no thread, no bars
            t = graph.transpose()
            classes, cls = np.unique(sig.labels, return_inverse=True)
            indptr, sims = np.ascontiguousarray(t.indptr, dtype=np.int64), np.ascontiguousarray(t.sims)
            indices = np.ascontiguousarray(t.indices)
            init = full_initial_gains(t, conf, 1.0)
            picks = greedy_kernel(
                indptr, indices, sims, conf, cls.astype(np.int64), int(classes.size), init, budget, 1.0, True,
                True, np.zeros(2, np.int64),
            )[0]
            _numpy_full_gains(indptr, indices, sims, conf, picks, 1.0)
        extra = f"graph nnz {graph.nnz}"
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put((np.asarray(picks), seconds, peak_mib, extra))


class _NoBar:
    def update(self, k: int) -> None:
        pass


def signals_main(args: argparse.Namespace) -> None:
    import platform

    print(f"# {args.signals}: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(f"{'case':>17} {'fraction':>8} {'seconds':>9} {'peak_MiB':>9}  notes")
    pairs = []
    if args.kcenter is not None:
        pairs.append((("kcenter-matvec", "kcenter-compiled"), args.kcenter))
    if args.full is not None:
        pairs.append((("full-bare", "full-progress"), args.full))
    for (before, after), fraction in pairs:
        common = (args.signals, fraction, args.tau)
        picks_a, t_a, m_a, note_a = run(before, *common, target=_signals_case)
        print(f"{before:>17} {fraction:8.2f} {t_a:9.1f} {m_a:9.0f}  before; {note_a}", flush=True)
        picks_b, t_b, m_b, note_b = run(after, *common, target=_signals_case)
        diff = np.flatnonzero(picks_a != picks_b)
        same = "same picks" if diff.size == 0 else f"picks differ from pick {diff[0]} on"
        print(f"{after:>17} {fraction:8.2f} {t_b:9.1f} {m_b:9.0f}  after; x{t_a / t_b:.1f}, {same}; {note_b}",
              flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.2, 0.8])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-full", action="store_true", help="skip the objective='full' reference")
    ap.add_argument("--signals", help="a signals file: run the --kcenter / --full cases on it instead")
    ap.add_argument("--kcenter", type=float, help="--signals: k-center before/after at this fraction")
    ap.add_argument("--full", type=float, help="--signals: the full objective without/with progress")
    ap.add_argument("--tau", type=float, default=0.95, help="--signals --full: similarity threshold")
    args = ap.parse_args()
    if args.signals:
        signals_main(args)
        return
    print(f"# n={args.n} d={args.dim} classes={args.classes}, balance on, tau=0.975, eta=1")
    print(f"{'fraction':>8} {'method':>16} {'seconds':>9} {'peak_MiB':>9}  notes")
    for frac in args.fractions:
        common = (args.n, args.dim, args.classes, frac, args.seed)
        base, t_base, m_base, _ = run("published", *common)
        print(f"{frac:8.2f} {'published-dense':>16} {t_base:9.1f} {m_base:9.0f}  baseline", flush=True)
        ours, t_ours, m_ours, note = run("prune4rel", *common)
        same = np.array_equal(ours, base)
        same_set = set(ours.tolist()) == set(base.tolist())
        print(
            f"{frac:8.2f} {'prune4rel-graph':>16} {t_ours:9.1f} {m_ours:9.0f}  "
            f"speed-up x{t_base / t_ours:.1f}, "
            f"same set: {same_set}, same order: {same}, {note}",
            flush=True,
        )
        if not args.skip_full:
            _, t_full, m_full, note = run("prune4rel-full", *common)
            print(
                f"{frac:8.2f} {'prune4rel-full':>16} {t_full:9.1f} {m_full:9.0f}  true greedy, {note}",
                flush=True,
            )


if __name__ == "__main__":
    main()
