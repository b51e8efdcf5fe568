"""Selection time of a fraction grid: a neighbour graph per select against one graph reused.

    python benchmarks/bench_graph_reuse.py          # shared CIFAR-10N worst signals, 0.2-0.8
    python benchmarks/bench_graph_reuse.py --methods prune4rel --fractions 0.3

"Before" is what a grid did until now: every ``select`` of ``prune4rel`` and
``prune4rel_agree`` at every fraction builds its own tau-graph. "After" builds the graph once
(``prune4rel.neighbors.build_graph``) and passes it to every ``select(..., graph=graph)``; its
time is the build plus all the selects. Both run in the same process on the same signals (a
plain ``.npz`` with ``labels``, ``probs``, ``embeddings``), after a small selection that
compiles the numba kernel, and must give identical selections. Prints one line per case, the
totals and their ratio, and the CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from prune4rel import Signals
from prune4rel.neighbors import build_graph
from prune4rel.selection import get_selector
from prune4rel.selection.prune4rel_selector import resolve_tau

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DEFAULT_SIGNALS = SHARED_DATA / "cifar10n_worst_signals_smallcnn.npz"


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (or what platform knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--signals", type=Path, default=DEFAULT_SIGNALS)
    ap.add_argument("--methods", nargs="+", default=["prune4rel", "prune4rel_agree"])
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.2, 0.4, 0.6, 0.8])
    ap.add_argument("--tau", type=float, default=0.975)
    ap.add_argument("--target-degree", type=float, help="calibrate tau to this mean degree instead")
    args = ap.parse_args()

    raw = np.load(args.signals)
    sig = Signals(labels=raw["labels"], probs=raw["probs"], embeddings=raw["embeddings"])
    params = {"tau": args.tau, "target_degree": args.target_degree}
    warm = Signals(labels=sig.labels[:500], probs=sig.probs[:500], embeddings=sig.embeddings[:500])
    get_selector("prune4rel", **params).select(warm, 0.5)  # compile the numba kernel first
    load = os.getloadavg()[0]
    print(
        f"# {args.signals.name}: n={sig.n} d={sig.embeddings.shape[1]}; {cpu_name()}, "
        f"{os.cpu_count()} cores, load average {load:.1f} at the start"
    )
    print(f"{'method':>16} {'fraction':>8} {'before_s':>9} {'after_s':>8}  same selection")

    before: dict[tuple[str, float], tuple[np.ndarray, float]] = {}
    for method in args.methods:
        for fraction in args.fractions:
            start = time.perf_counter()
            sel = get_selector(method, **params).select(sig, fraction)
            before[(method, fraction)] = (sel.indices, time.perf_counter() - start)

    start = time.perf_counter()
    tau = resolve_tau(sig.embeddings, args.tau, args.target_degree)
    graph = build_graph(sig.embeddings, tau)
    build_s = time.perf_counter() - start
    after_total = build_s
    all_same = True
    for method in args.methods:
        for fraction in args.fractions:
            start = time.perf_counter()
            sel = get_selector(method, **params).select(sig, fraction, graph=graph)
            seconds = time.perf_counter() - start
            after_total += seconds
            indices, before_s = before[(method, fraction)]
            same = bool(np.array_equal(indices, sel.indices))
            all_same &= same
            print(f"{method:>16} {fraction:8.2f} {before_s:9.2f} {seconds:8.2f}  {same}", flush=True)
    before_total = sum(s for _, s in before.values())
    print(f"{'graph build':>16} {'':8} {'':9} {build_s:8.2f}  (tau={tau:.6g}, {graph.nnz} edges)")
    print(
        f"{'total':>16} {'':8} {before_total:9.2f} {after_total:8.2f}  "
        f"x{before_total / after_total:.1f} faster with one graph; identical selections: {all_same}"
    )


if __name__ == "__main__":
    main()
