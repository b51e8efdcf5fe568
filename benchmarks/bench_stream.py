"""Image files -> NoisyDataset in RAM vs. a memory-mapped decode cache, and training on each.

Writes ``--n`` synthetic PNG files (not timed), then, for the same files, measures:

* decoding into RAM (``FileImageDataset.materialize``) vs. into the on-disk cache
  (``materialize(cache=...)``), and reusing the finished cache;
* ``--epochs`` of CE training (small CNN) on the first ``--train-rows`` examples of each
  dataset, and the same learner's ``predict`` over all ``--n`` rows.

Memory is the growth of the process's anonymous RSS (``RssAnon``: heap, not file pages, which
the kernel can drop and re-read) across each step. Times from both cases come from the same
run, so compare them as ratios.

    python benchmarks/bench_stream.py [--n 20000] [--size 64] [--train-rows 5000] [--epochs 1] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from prune4rel.data import index_image_csv
from prune4rel.learners import get_learner


def anon_rss_mib() -> float:
    """The process's anonymous resident memory in MiB (Linux ``/proc/self/status``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measured(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``fn()``, its wall time in seconds and its anonymous-RSS growth in MiB."""
    before, start = anon_rss_mib(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start, anon_rss_mib() - before


def write_images(folder: Path, n: int, size: int, seed: int = 0) -> Path:
    """``n`` PNGs of ``size`` x ``size`` noise with a class colour cast, plus train/test CSVs."""
    rng = np.random.default_rng(seed)
    rows = ["path,label"]
    for i in range(n):
        label = int(rng.integers(0, 10))
        arr = rng.integers(0, 160, size=(size, size, 3))
        arr[..., label % 3] += 8 * label
        Image.fromarray(arr.astype(np.uint8)).save(folder / f"{i}.png")
        rows.append(f"{i}.png,{label}")
    (folder / "train.csv").write_text("\n".join(rows) + "\n")
    (folder / "test.csv").write_text("\n".join(rows[:201]) + "\n")
    return folder / "train.csv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--train-rows", type=int, default=5_000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeats", type=int, default=2, help="training/predict repetitions per case")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    print(f"# n={args.n} {args.size}x{args.size} RGB PNG, train {args.train_rows} rows x {args.epochs} "
          f"epoch(s) CE small_cnn, {args.workers} decode threads; {os.cpu_count()} cores "
          f"({platform.processor() or 'cpu'}), torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "img").mkdir()
        start = time.perf_counter()
        csv = write_images(folder / "img", args.n, args.size)
        print(f"wrote {args.n} files in {time.perf_counter() - start:.1f} s (not counted)")
        index = index_image_csv(csv, test_csv=folder / "img" / "test.csv")

        def load(cache: Path | None) -> Any:
            return index.materialize(image_size=args.size, workers=args.workers, progress=False, cache=cache)

        cache = folder / "cache"
        cases = {}
        for name, where in (("in RAM", None), ("mapped cache", cache)):
            ds, secs, mib = measured(lambda where=where: load(where))
            print(f"{name:>13s}: decode {secs:6.1f} s ({args.n / secs:7.0f} img/s)  anon RSS +{mib:7.1f} MiB")
            cases[name] = ds
        _, secs, mib = measured(lambda: load(cache))
        print(f"{'cache reuse':>13s}: {secs:6.2f} s  anon RSS +{mib:.1f} MiB")

        rows = np.arange(min(args.train_rows, args.n))
        fit_s: dict[str, list[float]] = {name: [] for name in cases}
        pred_s: dict[str, list[float]] = {name: [] for name in cases}
        for rep in range(args.repeats):  # alternate the cases so that machine noise hits both
            for name, ds in cases.items():
                learner = get_learner("ce", model="small_cnn", batch_size=128, seed=0)
                _, secs, mib = measured(lambda ds=ds, learner=learner: learner.fit(
                    ds, rows, epochs=args.epochs, progress=False))
                fit_s[name].append(secs)
                _, secs, _ = measured(lambda ds=ds, learner=learner: learner.predict(ds))
                pred_s[name].append(secs)
                print(f"{name:>13s} #{rep}: train {fit_s[name][-1]:6.1f} s (anon RSS +{mib:7.1f} MiB)  "
                      f"predict all {secs:6.1f} s  test acc {learner.evaluate(ds):.3f}", flush=True)
        ram, mapped = "in RAM", "mapped cache"
        print(f"mapped / in RAM (best of {args.repeats}): train x{min(fit_s[mapped]) / min(fit_s[ram]):.2f}, "
              f"predict x{min(pred_s[mapped]) / min(pred_s[ram]):.2f}")


if __name__ == "__main__":
    main()
