"""One real CIFAR-10N point: worst labels, SOP+, Prune4ReL vs. Uniform (and SmallLoss).

Prepared for a single run on a lent GPU (H100/H200), under 10 minutes:

    PYTHONPATH=src python benchmarks/cifar10n/gpu_point.py --data data_local --out "$OUT"

``--data`` holds ``cifar10_small_webpq95.npz`` (lossy WebP training images, exact PNG test
images) and ``cifar10n_labels.npz``. Steps: a SOP+ warm-up on all 50,000 noisy examples with
the fast airbench-style network, signals, selection, SOP+ trained on each subset, test
accuracy on the exact first 1,000 CIFAR-10 test images. A time guard skips the jobs that would
not fit; results are written after every job (``results.json``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from prune4rel.data import load_cifar10n
from prune4rel.learners import SOPPlus
from prune4rel.selection import Prune4ReL, get_selector
from prune4rel.warmup import warmup


def make_learner(device: str, seed: int, threads: int | None) -> SOPPlus:
    return SOPPlus(
        "airbench",
        batch_size=512,
        lr=0.1,
        schedule="triangle",
        amp=device.startswith("cuda"),
        tta=True,
        device=device,
        seed=seed,
        num_threads=threads,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data_local")
    ap.add_argument("--out", default="runs/gpu_point")
    ap.add_argument("--label-set", default="worst")
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.4, 0.2])
    ap.add_argument("--warmup-epochs", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--max-train", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget-s", type=float, default=420.0, help="skip jobs past this wall time")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    start = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    threads = None if args.device.startswith("cuda") else 1
    results: dict = {
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "args": vars(args),
        "jobs": [],
    }

    def save() -> None:
        results["wall_s"] = round(time.perf_counter() - start, 1)
        (out / "results.json").write_text(json.dumps(results, indent=1))

    ds = load_cifar10n(args.data, args.label_set, "exact1k", max_train=args.max_train)
    results["data"] = {"n": ds.n, "noise": ds.noise_rate(), "test_set": ds.test_set, **ds.meta}
    print(
        f"data {ds.n} noise {ds.noise_rate():.3f} test {ds.test_set} ({time.perf_counter() - start:.0f}s)",
        flush=True,
    )

    t = time.perf_counter()
    warm = make_learner(args.device, args.seed, threads)
    signals = warmup(warm, ds, args.warmup_epochs, progress=False)
    results["warmup"] = {
        "epochs": args.warmup_epochs,
        "seconds": round(time.perf_counter() - t, 1),
        "test_acc": warm.evaluate(ds),
        "pred_agrees_clean": float(np.mean(signals.probs.argmax(1) == ds.clean_labels)),
    }
    print("warm-up", results["warmup"], flush=True)
    save()

    # CUDA selection check: the GPU-built graph and the CPU-built graph pick the same set.
    # share_covered: share of all training examples with N(x; S) > 0, i.e. with at least one
    # selected tau-neighbour (itself included); named "mean_neighbours" in earlier versions
    t = time.perf_counter()
    sel_dev = Prune4ReL(device=args.device).select(signals, args.fractions[0])
    t_dev = time.perf_counter() - t
    t = time.perf_counter()
    sel_cpu = Prune4ReL(device="cpu").select(signals, args.fractions[0])
    results["selection_check"] = {
        "same_indices": bool(np.array_equal(sel_dev.indices, sel_cpu.indices)),
        "seconds_device": round(t_dev, 2),
        "seconds_cpu": round(time.perf_counter() - t, 2),
        "share_covered": float(np.mean(sel_cpu.extras["neighborhood_confidence"] > 0)),
    }
    print("selection check", results["selection_check"], flush=True)
    save()

    methods = [
        ("prune4rel", {"device": args.device}),
        ("uniform", {"seed": args.seed}),
        ("small_loss", {}),
        ("prune4rel", {"device": args.device, "objective": "full"}),
    ]
    for frac in args.fractions:
        for method, params in methods:
            elapsed = time.perf_counter() - start
            per_job = results.get("last_job_s", 60.0) * frac / args.fractions[0]
            if elapsed + per_job > args.budget_s:
                print(f"skip {method} {params} {frac}: {elapsed:.0f}s used", flush=True)
                continue
            t = time.perf_counter()
            sel = get_selector(method, **params).select(signals, frac)
            idx = sel.indices
            learner = make_learner(args.device, args.seed, threads)
            learner.fit(ds, idx, args.epochs, progress=False)
            job = {
                "method": method,
                "params": {k: v for k, v in params.items() if k != "device"},
                "fraction": frac,
                "size": int(idx.size),
                "subset_noise": float(np.mean(ds.noisy_labels[idx] != ds.clean_labels[idx])),
                "test_acc": learner.evaluate(ds),
                "relabel_acc": learner.relabel_accuracy(idx),
                "select_s": round(sel.seconds, 2),
                "seconds": round(time.perf_counter() - t, 1),
            }
            results["jobs"].append(job)
            results["last_job_s"] = job["seconds"] * args.fractions[0] / frac
            print(job, flush=True)
            save()
    save()
    print(f"done in {time.perf_counter() - start:.0f}s", flush=True)


if __name__ == "__main__":
    main()
