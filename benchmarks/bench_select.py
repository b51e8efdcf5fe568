"""Prune4ReL selection speed against the published dense greedy, measured in the same run.

    python benchmarks/bench_select.py                       # n=50k, d=512, 20% and 80%
    python benchmarks/bench_select.py --n 5000 --fractions 0.2   # a quick look

Each case runs in a fresh process (so peak RSS is per case) on the same synthetic clustered
embeddings (benchmarks/synthetic.py: 10 classes, 30% label noise). Prints one line per case and
the speed-up of prune4rel (graph backend, published objective) over the baseline, whether both
picked the same set, and the time of the true greedy (objective="full") for reference.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
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


def run(method: str, *args) -> tuple[np.ndarray, float, float, str]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_case, args=(method, *args, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.2, 0.8])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-full", action="store_true", help="skip the objective='full' reference")
    args = ap.parse_args()
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
