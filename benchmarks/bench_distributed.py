"""Ray-sharded Prune4ReL vs. the single-machine selector on synthetic clustered embeddings.

One line per case: the single-machine greedy (baseline, measured in this run), then Ray with
1 and 2 worker CPUs and 2/4/8 shards, class and k-means partitions: wall time of
``ray_select`` (runtime already started, workers and the single machine warmed up; the embeddings are read by
the tasks from a .npy file), the objective ``f(S)`` on all examples relative to the baseline,
and the speed-ups vs. the same case on 1 worker and vs. the baseline.

    python benchmarks/bench_distributed.py [--n 50000] [--dim 128] [--fraction 0.2]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np
import ray
from synthetic import clustered_arrays

from prune4rel import Signals
from prune4rel.distributed import ray_select
from prune4rel.selection import Prune4ReL
from prune4rel.selection.prune4rel_selector import neighborhood_objective


def probs_from_confidence(conf: np.ndarray, classes: int) -> np.ndarray:
    """(n, classes) probabilities whose largest entry is ``conf`` (column 0), the rest equal."""
    probs = np.repeat(((1.0 - conf) / (classes - 1))[:, None], classes, axis=1)
    probs[:, 0] = conf
    return probs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--fraction", type=float, default=0.2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "embeddings.npy")
        emb = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(args.n, args.dim))
        _, labels, conf = clustered_arrays(n=args.n, dim=args.dim, classes=args.classes, out=emb)
        emb.flush()
        del emb
        probs = probs_from_confidence(conf, args.classes)
        signals = Signals(labels=labels, probs=probs, embeddings=np.load(path, mmap_mode="r"))
        print(
            f"# n={args.n} d={args.dim} classes={args.classes} fraction={args.fraction} tau=0.975 eta=1 "
            f"published greedy, balance on, alpha=2; {os.cpu_count()} cores "
            f"({platform.processor() or 'cpu'}) shared with other jobs, so times are noisy"
        )
        Prune4ReL().select(signals, 0.01)  # compile the greedy kernel, as the Ray workers are warmed
        start = time.perf_counter()
        single = Prune4ReL().select(signals, args.fraction)
        base_seconds = time.perf_counter() - start
        base_value, _ = neighborhood_objective(signals, single.indices)
        print(f"{'case':>28s} {'seconds':>8s} {'ratio':>7s} {'vs 1 cpu':>9s} {'vs single':>9s}  notes")
        print(f"{'single-machine':>28s} {base_seconds:8.1f} {1.0:7.4f} {'':>9s} {1.0:9.2f}  baseline")

        one_cpu: dict[tuple[int, str], float] = {}
        for cpus in (1, 2):
            ray.init(num_cpus=cpus, include_dashboard=False, logging_level="ERROR")
            ray_select(path, labels, probs, 0.01, shards=cpus + 1, partition="kmeans")  # warm the workers
            for shards in (2, 4, 8):
                for partition in ("class", "kmeans"):
                    start = time.perf_counter()
                    sel = ray_select(path, labels, probs, args.fraction, shards=shards, partition=partition)
                    seconds = time.perf_counter() - start
                    value, _ = neighborhood_objective(signals, sel.indices)
                    one_cpu.setdefault((shards, partition), seconds)
                    overlap = np.intersect1d(sel.indices, single.indices).size / single.indices.size
                    round2, pool = float(sel.extras["round2_seconds"]), int(sel.extras["pool_size"])
                    print(
                        f"{f'ray cpus={cpus} shards={shards} {partition}':>28s} {seconds:8.1f} "
                        f"{value / base_value:7.4f} {one_cpu[(shards, partition)] / seconds:9.2f} "
                        f"{base_seconds / seconds:9.2f}  max shard {sel.extras['shard_seconds'].max():.1f}s, "
                        f"round 2 {round2:.1f}s on {pool}, overlap {overlap:.3f}"
                    )
            ray.shutdown()


if __name__ == "__main__":
    main()
