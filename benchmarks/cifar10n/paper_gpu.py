"""Paper-style CIFAR-10N protocol sized to run unattended in at most 9 minutes on one H100.

Presets
-------
``paper`` (default)
    PreActResNet18 and SOP+ with the paper's optimiser settings (the ``paper`` protocol of
    ``grid.py``: SGD lr 0.02, momentum 0.9, weight decay 5e-4, no Nesterov, cosine schedule,
    batch 128; ``lr_u = lr_v = 10``, consistency 0.9, balance 0.1) plus bf16 autocast; worst
    labels (40.2% noise, all 50,000 images); uniform, small_loss, prune4rel and prune4rel_agree
    at fractions 0.2 / 0.4 / 0.6 / 0.8; seed 0; one SOP+ warm-up shared by the 16 cells.
``fast``
    The airbench network with the fast GPU protocol of ``grid.py`` (widths 64/256/256, batch
    512, lr 0.1, triangle schedule, flip TTA, bf16) on random1 and aggre labels: two run
    directories, the same selectors and fractions, in the same 9 minutes.

channels_last is passed to the learners where :class:`prune4rel.learners.Learner` declares a
``channels_last`` parameter, as it now does (NHWC images and networks): both presets run NHWC
and the plan says so.

The plan (epochs and seconds of every stage) is sized in ``paper_gpu_plan.py``, which says
how.

Run
---
On the GPU machine, with the compressed images and the labels copied into an ignored folder
of the checkout (``data_local/``, carried)::

    PYTHONPATH=src python benchmarks/cifar10n/paper_gpu.py --data data_local --out "$OUT/paper"
    PYTHONPATH=src python benchmarks/cifar10n/paper_gpu.py --preset fast --data data_local \\
        --out "$OUT/fast"
    python benchmarks/cifar10n/paper_gpu.py --dry-run [--preset fast]   # the plan only

Each label set gets a run directory of :func:`prune4rel.pipeline.run_experiment` in
``--out``, with every ``result_<method>_<fraction>.json`` written as its training finishes and
the corrected labels of each trained cell (``relabel_<digest>.npy``, as ``grid.py`` saves
them). A deadline (the budget less 5 s for the report and 5 s for the imports before the
script's clock starts) stops the run after an epoch when another epoch as long would end past
it (that epoch's checkpoint is written first): the same command then resumes (finished cells
are skipped, interrupted ones continue from their last epoch; ``plan.json`` keeps the epochs
of the first run). The run ends with ``prune4rel report``'s ``report.md`` and
``accuracy.png`` over all run directories, and ``paper_gpu_log.json`` (plan, wall times and
the measured example-epochs per second of every cell).

A CPU run on a tiny slice goes through every stage (data, warm-up, the four selectors,
16 trainings, report): ``tests/test_cifar10n_scripts.py`` runs both presets at ``--width 8``
(about 20 s each, a deadline stop and two resumes included). At full width, PreActResNet18 on
one CPU thread trains only 3-8 example-epochs per second::

    PYTHONPATH=src python benchmarks/cifar10n/paper_gpu.py --device cpu --data ../shared/data \\
        --train-subset 300 --test-subset 100 --warmup-epochs 1 --epochs 1 --threads 1 \\
        --out runs/paper_gpu_cpu

stopped at the 540 s budget after 13 of the 16 cells (8 min 48 s, 2.5 GB peak RSS, on the
2-core machine shared with other jobs) and the same command finished the other three in
1 min 16 s.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from prune4rel.data import NoisyDataset
from prune4rel.learners import Callback, Learner
from prune4rel.pipeline import RunConfig, run_experiment
from prune4rel.report import write_report

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grid import SaveRelabels
from paper_gpu_plan import (
    BUDGET_S,
    FRACTIONS,
    H100_FACTOR,
    METHODS,
    N_TRAIN,
    REPORT_S,
    Plan,
    Preset,
    make_plan,
    make_preset,
    measured_rates,
)

#: imports before ``main`` starts its clock (3.0 s measured on the CPU machine)
IMPORT_S = 5.0


def run_config(preset: Preset, noise: str, plan: Plan, args: argparse.Namespace) -> RunConfig:
    """The :class:`RunConfig` of one label set's run directory."""
    return RunConfig.from_dict({
        "seed": 0,
        "device": args.device,
        "data": {"dataset": "cifar10n", "root": args.data, "label_set": noise, "test_set": "exact1k",
                 "train_subset": args.train_subset, "test_subset": args.test_subset},
        "warmup": {"epochs": plan.warmup_epochs, "learner": "sop+", "model": preset.model,
                   "params": preset.params},
        "selection": {"methods": list(METHODS), "fractions": list(FRACTIONS)},
        "train": {"learner": "sop+", "epochs": plan.epochs, "model": preset.model, "params": preset.params},
    })


class OutOfTime(Exception):
    """Raised by :class:`Deadline` once the budget is spent (after the epoch's checkpoint)."""


class Deadline(Callback):
    """Stops training when another epoch would end past ``deadline``, and logs each fit.

    Parameters
    ----------
    deadline : float
        ``time.perf_counter()`` value by which the last epoch must end.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self._start = 0.0
        self._examples = 0

    def on_fit_start(self, learner: Learner, dataset: NoisyDataset, indices: np.ndarray, epochs: int) -> None:
        self._start, self._examples = time.perf_counter(), len(indices)
        print(f"  fit {self._examples:,} examples x {epochs} epochs", flush=True)

    def on_epoch_end(self, learner: Learner, epoch: int, logs: dict[str, Any]) -> None:
        if time.perf_counter() + logs["seconds"] > self.deadline:
            raise OutOfTime(f"budget spent after epoch {epoch + 1} of a fit of {self._examples:,} examples")

    def on_fit_end(self, learner: Learner, history: list[dict[str, Any]]) -> None:
        if not history:
            print("  resumed after its last epoch: nothing left to train", flush=True)
            return
        seconds = time.perf_counter() - self._start
        rate = self._examples * len(history) / max(seconds, 1e-9)
        print(f"  {len(history)} epochs in {seconds:.1f} s ({rate:,.0f} example-epochs/s)", flush=True)


def main(argv: list[str] | None = None) -> None:
    """Print the plan, then (unless ``--dry-run``) run or resume it and write the report."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", choices=("paper", "fast"), default="paper")
    ap.add_argument("--data", default="data_local", help="folder with the CIFAR-10 and CIFAR-10N .npz files")
    ap.add_argument("--out", default="runs/paper_gpu")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--budget-s", type=float, default=BUDGET_S)
    ap.add_argument("--device-factor", type=float, default=H100_FACTOR,
                    help="speed of the GPU relative to the H200 of the measurements")
    ap.add_argument("--epochs", type=int, default=None, help="training epochs instead of the plan's")
    ap.add_argument("--warmup-epochs", type=int, default=None, help="warm-up epochs instead of the plan's")
    ap.add_argument("--train-subset", type=int, default=None, help="keep the first N training examples")
    ap.add_argument("--test-subset", type=int, default=None, help="keep the first N test examples")
    ap.add_argument("--width", type=int, default=None, help="narrower network, for smoke runs")
    ap.add_argument("--threads", type=int, default=None, help="torch threads on the CPU")
    ap.add_argument("--no-resume", action="store_true")
    ap.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    if args.threads is not None and args.device == "cpu":
        torch.set_num_threads(args.threads)
    preset = make_preset(args.preset, args.device, args.threads, args.width)
    rates = measured_rates()
    print(f"reference ({rates['device']}): airbench SOP+ {rates['sop']:,.0f} example-epochs/s "
          f"({rates['sop_example_epochs']:,} in {rates['sop_seconds']:.1f} s), airbench CE "
          f"{rates['ce']:,.0f} (20 epochs x 50,000 in {rates['ce_seconds']:.2f} s); device factor "
          f"{args.device_factor}")
    out = Path(args.out)
    saved = out / "plan.json"
    epochs, warmup_epochs = args.epochs, args.warmup_epochs
    if not args.dry_run and not args.no_resume and saved.is_file():
        previous = json.loads(saved.read_text())
        epochs = epochs or previous["epochs"]
        warmup_epochs = warmup_epochs or previous["warmup_epochs"]
    plan = make_plan(preset, rates, args.budget_s, args.device_factor, args.train_subset or N_TRAIN,
                     epochs, warmup_epochs)
    print(plan.describe(), flush=True)
    if args.dry_run:
        return
    if args.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    out.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(plan.to_dict(), indent=1))
    deadline = Deadline(start + args.budget_s - REPORT_S - IMPORT_S)
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    log: dict[str, Any] = {"args": vars(args), "device": device, "plan": plan.to_dict(), "runs": [],
                           "stopped": None}
    run_dirs = []
    for noise in preset.noise:
        run_dir = out / f"{noise}_sopplus_seed0"
        run_dirs.append(run_dir)
        t = time.perf_counter()
        print(f"{run_dir}: {noise} labels", flush=True)
        try:
            res = run_experiment(run_config(preset, noise, plan, args), run_dir, resume=not args.no_resume,
                                 progress=False, callbacks=[deadline, SaveRelabels(run_dir)],
                                 warmup_callbacks=[deadline])
        except OutOfTime as exc:
            log["stopped"] = f"{run_dir}: {exc}"
            print(f"stopped: {exc}; run the same command again to resume", flush=True)
            break
        cells = []
        for r in res["results"]:
            rate = r["subset_size"] * r["epochs"] / max(r["seconds"]["train"], 1e-9)
            cells.append({"method": r["method"], "fraction": r["fraction"],
                          "test_acc_best": r["test_acc_best"], "subset_noise_rate": r["subset_noise_rate"],
                          "train_s": r["seconds"]["train"], "example_epochs_per_s": round(rate)})
            print(f"{noise:8s} {r['method']:16s} {r['fraction']:.1f} test_acc_best {r['test_acc_best']:.4f} "
                  f"subset_noise {r['subset_noise_rate']:.4f} relabel {r['relabel_acc']} "
                  f"train {r['seconds']['train']:.1f}s ({rate:,.0f} ex-ep/s)", flush=True)
        log["runs"].append({"run_dir": str(run_dir), "seconds": round(time.perf_counter() - t, 1),
                            "cells": cells})
    done = [d for d in run_dirs if any(d.glob("result_*.json"))]
    if done:
        write_report(done, out / "report.md", out / "accuracy.png")
        print((out / "report.md").read_text())
        print(f"wrote {out / 'report.md'} and {out / 'accuracy.png'}")
    log["wall_s"] = round(time.perf_counter() - start, 1)
    (out / "paper_gpu_log.json").write_text(json.dumps(log, indent=1))
    print(f"wall time {log['wall_s']:.0f} s of {args.budget_s:.0f} s", flush=True)


if __name__ == "__main__":
    main()
