"""The CIFAR-10N comparison grid: selectors x fractions x noise x learner x seeds.

One run directory per (noise, learner, seed), made by :func:`prune4rel.pipeline.run_experiment`:
its single warm-up (``signals.npz``) is shared by every selector and fraction, and every
(selector, fraction) cell gets its own ``subset_*``, ``metrics_*.jsonl`` and
``result_<method>_<fraction>.json``. The script also saves, per trained cell,
``relabel_<sha>.npy``: the trained learner's corrected label of every training example
(``Learner.corrected_labels()``), keyed by the subset's index digest, which
``relabel_vs_confidence.py`` matches back to its ``subset_*.npy``. At the end it runs
``prune4rel report`` on the grid (``report.md`` and ``accuracy.png`` in ``--out``).

Protocols
---------
``paper`` (GPU users)
    PreActResNet18, 10 warm-up epochs, 300 training epochs, SGD momentum 0.9, weight decay
    5e-4, cosine schedule, batch 128 and lr 0.02 (SOP+: ``lr_u = lr_v = 10``, consistency
    0.9, balance 0.1; DivideMix: its paper's CIFAR-10 defaults in
    :class:`~prune4rel.learners.DivideMix`, batch 64; CE: batch 128, lr 0.02). This is our
    reading of the SOP+/DivideMix/Prune4ReL papers' CIFAR-10 settings, not a copy of the
    authors' scripts. About 300 epochs x 5 fractions x 4 methods per run directory: hours on
    one GPU.
``fast``
    Flip TTA, a ``triangle`` schedule, bf16 autocast on CUDA. GPU defaults (``--device
    cuda``): the airbench-style network (widths 64/256/256 unless ``--widths``), batch 512,
    lr 0.1, 10 warm-up and 60 training epochs (the setting of
    ``benchmarks/cifar10n/gpu_point.py``), except for CE, which gets the fast net's measured
    recipe :data:`FAST_CE_GPU` (batch 1024, lr 6.4, weight decay 1.25e-4, label smoothing
    0.2: 93.1% on the exact 1k test images after 20 epochs on clean labels, one H200,
    ``gpu_airbench_clean.py``). That recipe is not applied to SOP+ or DivideMix: it was
    measured for cross-entropy with label smoothing on clean labels, while SOP+'s network
    learns through its noise-adjusted loss (no label smoothing) in step with its per-example
    ``u``/``v`` at their own fixed learning rates (10), and DivideMix through MixMatch; a
    64x larger network rate changes that balance in a way nobody measured, and every GPU
    figure of SOP+ and DivideMix so far (``gpu_point_h200_results.json``, issue 12's grid)
    used batch 512 and lr 0.1. CPU defaults (``--device cpu``): the small CNN
    (32/64/128 channels; ``--model airbench`` to override), batch 64, lr 0.1, 3 warm-up and 6
    training epochs, ``--threads`` torch threads per learner. On this machine airbench
    (even at widths 32/64/128) did not learn in the few CPU epochs that fit: a 2-epoch SOP+
    warm-up agreed with the clean labels on 23.7% of 10,000 examples and 4 epochs of SOP+ on
    2,000 of them reached 12.8% test accuracy. The CPU variant is meant for
    ``--train-subset 10000`` and a reduced grid, e.g.::

        .venv/bin/python benchmarks/cifar10n/grid.py --protocol fast --device cpu \\
            --train-subset 10000 --noise worst --learners sop+ \\
            --methods uniform,small_loss,prune4rel,prune4rel_agree --fractions 0.2,0.4 \\
            --seeds 0 --threads 1 --out runs/grid_cpu

    Each (noise, learner, seed) directory then trains one warm-up over 10,000 examples plus
    ``4 methods x (2,000 + 4,000)`` examples per epoch; the measured wall time is in
    ``benchmarks/RESULTS.md``. The whole CPU grid of issue 6 (8 selectors x 4 fractions +
    full data, ``--epochs 5 --threads 2``) took 41 min 46 s on 2 cores (RESULTS.md, section 5).
    DivideMix trains two networks on labeled and unlabeled
    batches and costs several times SOP+; in this protocol its own CE warm-up lasts
    ``epochs // 5`` epochs and ``lambda_u`` is 0 (:func:`dividemix_fast_params`);
    ``dividemix_check.py`` compares it with SOP+ in this protocol.

The GPU grid of issue 6 (8 selectors x 4 fractions on all 50,000 worst labels, target under
9 minutes on one H100/H200) is prepared but has not run yet (no GPU was lent since it was
sized)::

    PYTHONPATH=src python benchmarks/cifar10n/grid.py --protocol fast --device cuda \
        --data data_local --noise worst --learners sop+ \
        --methods uniform,small_loss,margin,forgetting,kcenter,moderate,prune4rel,prune4rel_agree \
        --fractions 0.2,0.4,0.6,0.8 --seeds 0 --warmup-epochs 10 --epochs 12 --out "$OUT/grid_gpu"

Sizing, from ``gpu_point_h200_results.json`` (SOP+, airbench, bf16 on an H200: 60 epochs over
20,000 examples in 39 s, about 31,000 example-epochs per second; the 10-epoch warm-up over
50,000 in 24 s): the 32 trainings are 8 x (0.2 + 0.4 + 0.6 + 0.8) x 50,000 x 12 = 9.6 M
example-epochs, about 310 s, plus the warm-up, 32 selections and data loading; an H100 is
slower, hence 12 epochs rather than the 60 of ``gpu_point.py``.

Every run directory can be resumed (``--resume`` is the default): finished cells are
skipped and interrupted trainings continue from their last epoch. The warm-up learner is the
training learner (CE for DivideMix, whose own first epochs are a CE warm-up) with the same
network and optimiser settings. The test set is the exact first 1,000 CIFAR-10 test images
(``--test-set jpeg10k`` for all 10,000 JPEG-decoded ones).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from prune4rel._io import atomic_save_npy
from prune4rel.learners import Callback, Learner
from prune4rel.pipeline import RunConfig, run_experiment
from prune4rel.report import write_report

NOISE_SETS = {"worst": "worst", "random1": "random1", "random2": "random2", "random3": "random3",
              "aggre": "aggre"}
LEARNERS = ("sop+", "dividemix", "ce")
PROTOCOLS = ("paper", "fast")
#: The fast net's cross-entropy recipe on a GPU: the best setting of ``gpu_airbench_clean.py``
#: (airbench, triangle schedule, flip TTA, bf16; 93.1% on the exact first 1,000 CIFAR-10 test
#: images after 20 epochs on clean labels, one NVIDIA H200). Used for CE only (module docstring).
FAST_CE_GPU: dict[str, Any] = {"batch_size": 1024, "lr": 6.4, "weight_decay": 1.25e-4, "label_smoothing": 0.2}


def indices_digest(indices: np.ndarray) -> str:
    """The 16-hex-digit digest of an index array (as the pipeline records in ``subset_*.json``)."""
    arr = np.ascontiguousarray(indices, dtype=np.int64)
    return hashlib.sha256(arr.tobytes()).hexdigest()[:16]


class SaveRelabels(Callback):
    """After each ``fit``, save the learner's corrected labels as ``relabel_<digest>.npy``.

    Parameters
    ----------
    run_dir : path
        Where the files go.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self._digest: str | None = None

    def on_fit_start(self, learner: Learner, dataset: Any, indices: np.ndarray, epochs: int) -> None:
        self._digest = indices_digest(np.asarray(indices))

    def on_fit_end(self, learner: Learner, history: list[dict[str, Any]]) -> None:
        if self._digest is not None:
            atomic_save_npy(self.run_dir / f"relabel_{self._digest}.npy", learner.corrected_labels())


def learner_params(protocol: str, learner: str, device: str, threads: int | None,
                   widths: list[int] | None, model: str | None = None, batch_size: int | None = None,
                   lr: float | None = None) -> tuple[str, dict[str, Any]]:
    """Network name and learner parameters of a protocol.

    Parameters
    ----------
    protocol : {"paper", "fast"}
    learner : str
        "sop+", "dividemix" or "ce".
    device : str
        "cpu" selects the CPU settings of the fast protocol.
    threads : int, optional
        ``num_threads`` of the learners (CPU only).
    widths : list of int, optional
        Airbench widths (fast protocol).
    model, batch_size, lr : optional
        Overrides of the fast protocol's network (e.g. "small_cnn"), batch size and peak lr.

    Returns
    -------
    model : str
    params : dict
    """
    cpu = device == "cpu"
    common: dict[str, Any] = {}
    if cpu and threads is not None:
        common["num_threads"] = threads
    if protocol == "paper":
        params: dict[str, Any] = {"lr": 0.02, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "cosine",
                                  "nesterov": False, **common}
        if learner == "sop+":
            params.update(batch_size=128, lr_u=10.0, lr_v=10.0, consistency=0.9, balance=0.1)
        elif learner == "dividemix":
            params.update(batch_size=64)
        else:
            params.update(batch_size=128)
        return "preact_resnet18", params
    params = {"schedule": "triangle", "tta": True, "amp": not cpu, **common}
    if cpu:
        params.update(batch_size=64, lr=0.1)
    else:
        params.update(FAST_CE_GPU if learner == "ce" else {"batch_size": 512, "lr": 0.1})
    if batch_size is not None:
        params["batch_size"] = batch_size
    if lr is not None:
        params["lr"] = lr
    if widths:
        params["model_kwargs"] = {"widths": list(widths)}
    return model or ("small_cnn" if cpu else "airbench"), params


def dividemix_fast_params(epochs: int) -> dict[str, Any]:
    """DivideMix's own settings in the fast protocol of ``epochs`` training epochs.

    Its CE warm-up lasts ``epochs // 5`` epochs and the ramp-up of ``lambda_u``
    ``epochs // 4`` (at least 1 each; the paper: 10 and 16 of 300). ``lambda_u = 0``, the
    paper's CIFAR-10 value for 20% symmetric and 40% asymmetric noise: the subsets trained
    here carry 2-40% class-dependent human noise, and in a few epochs the co-guessed labels
    are mostly wrong (``dividemix_check.py`` on the CPU, 2,000 examples with 2% noise:
    44.2% test accuracy with 0, 42.4% with the default 25; benchmarks/RESULTS.md, 5e).
    """
    return {"warmup_epochs": max(1, epochs // 5), "rampup_epochs": max(1, epochs // 4), "lambda_u": 0.0}


def run_config(args: argparse.Namespace, noise: str, learner: str, seed: int) -> RunConfig:
    """The :class:`RunConfig` of one (noise, learner, seed) run directory."""
    model, params = learner_params(args.protocol, learner, args.device, args.threads, args.widths,
                                   getattr(args, "model", None), getattr(args, "batch_size", None),
                                   getattr(args, "lr", None))
    paper = args.protocol == "paper"
    cpu = args.device == "cpu"
    warm_epochs = args.warmup_epochs or (10 if paper or not cpu else 3)
    epochs = args.epochs or (300 if paper else (6 if cpu else 60))
    warm_learner = "ce" if learner == "dividemix" else learner
    warm_params = dict(params)
    if learner == "dividemix" and paper:
        warm_params["batch_size"] = 128
    if learner == "dividemix" and not paper:
        params = {**params, **dividemix_fast_params(epochs)}
    methods = list(args.methods)
    method_params: dict[str, dict[str, Any]] = {}
    for m in methods:
        if m.startswith("prune4rel") and args.tau is not None:
            method_params[m] = {"tau": args.tau}
        if m.startswith("prune4rel") and args.target_degree is not None:
            method_params[m] = {"target_degree": args.target_degree}
    return RunConfig.from_dict({
        "seed": seed,
        "device": args.device,
        "data": {"dataset": "cifar10n", "root": args.data, "label_set": NOISE_SETS[noise],
                 "test_set": args.test_set, "train_subset": args.train_subset},
        "warmup": {"epochs": warm_epochs, "learner": warm_learner, "model": model, "params": warm_params},
        "selection": {"methods": methods, "fractions": args.fractions, "params": method_params},
        "train": {"learner": learner, "epochs": epochs, "model": model, "params": params},
    })


def _csv(kind: type) -> Any:
    return lambda text: [kind(v) for v in text.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="CIFAR-10N selector grid (one warm-up per noise/learner/seed)")
    ap.add_argument("--protocol", choices=PROTOCOLS, default="fast")
    ap.add_argument("--data", default="../shared/data",
                    help="folder with cifar10.npz and cifar10n_labels.npz")
    ap.add_argument("--out", default="runs/grid")
    ap.add_argument("--noise", type=_csv(str), default=["worst", "random1", "aggre"])
    ap.add_argument("--learners", type=_csv(str), default=list(LEARNERS))
    ap.add_argument("--methods", type=_csv(str),
                    default=["uniform", "small_loss", "prune4rel", "prune4rel_agree"])
    ap.add_argument("--fractions", type=_csv(float), default=[0.2, 0.4, 0.6, 0.8])
    ap.add_argument("--seeds", type=_csv(int), default=[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--train-subset", type=int, default=None, help="keep the first N training examples")
    ap.add_argument("--test-set", choices=("exact1k", "jpeg10k"), default="exact1k")
    ap.add_argument("--warmup-epochs", type=int, default=None, help="override the protocol's warm-up epochs")
    ap.add_argument("--epochs", type=int, default=None, help="override the protocol's training epochs")
    ap.add_argument("--widths", type=_csv(int), default=None, help="network widths, e.g. 32,64,128")
    ap.add_argument("--model", default=None, help="fast protocol: network instead of airbench (small_cnn)")
    ap.add_argument("--batch-size", type=int, default=None, help="fast protocol: batch size")
    ap.add_argument("--lr", type=float, default=None, help="fast protocol: peak learning rate")
    ap.add_argument("--tau", type=float, default=None, help="tau of the prune4rel selectors")
    ap.add_argument("--target-degree", type=float, default=None,
                    help="prune4rel selectors: calibrate tau to this mean neighbour count (not with --tau)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads of each learner (CPU)")
    ap.add_argument("--no-resume", action="store_true")
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--dry-run", action="store_true", help="print the configs and exit")
    args = ap.parse_args(argv)
    unknown = sorted(set(args.noise) - set(NOISE_SETS))
    if unknown:
        ap.error(f"--noise: unknown label set(s) {unknown}; choose from {sorted(NOISE_SETS)}")
    if args.tau is not None and args.target_degree is not None:
        ap.error("--tau and --target-degree exclude each other")
    if args.threads is not None and args.device == "cpu":
        torch.set_num_threads(args.threads)  # also for selection and the warm-up's predict
    out = Path(args.out)
    start = time.perf_counter()
    log: list[dict[str, Any]] = []
    for noise in args.noise:
        for learner in args.learners:
            for seed in args.seeds:
                config = run_config(args, noise, learner, seed)
                run_dir = out / f"{noise}_{learner.replace('+', 'plus')}_seed{seed}"
                if args.dry_run:
                    print(f"# {run_dir}\n{config.to_yaml()}")
                    continue
                t = time.perf_counter()
                res = run_experiment(config, run_dir, resume=not args.no_resume, progress=args.progress,
                                     callbacks=[SaveRelabels(run_dir)])
                for r in res["results"]:
                    print(f"{noise:8s} {learner:9s} seed {seed} {r['method']:16s} {r['fraction']:.2f} "
                          f"test_acc_best {r['test_acc_best']:.4f} last {r['test_acc_last']:.4f} "
                          f"subset_noise {r['subset_noise_rate']:.4f} relabel {r['relabel_acc']} "
                          f"train {r['seconds']['train']:.0f}s", flush=True)
                log.append({"run_dir": str(run_dir), "seconds": round(time.perf_counter() - t, 1)})
                total = time.perf_counter() - start
                print(f"{run_dir}: {log[-1]['seconds']:.0f}s (total {total:.0f}s)", flush=True)
                (out / "grid_log.json").write_text(json.dumps(
                    {"args": vars(args), "runs": log,
                     "wall_s": round(time.perf_counter() - start, 1)}, indent=1))
    if not args.dry_run and log:
        write_report([out], out / "report.md", out / "accuracy.png")
        print(f"wrote {out / 'report.md'} and {out / 'accuracy.png'}")


if __name__ == "__main__":
    main()
