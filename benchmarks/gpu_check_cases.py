"""The cases of ``benchmarks/gpu_check.py``: each one runs in its own process and returns an
:class:`Outcome` (PASS, FAIL or SKIP, a one-line detail, its figures).

Sizes: the first figure of each pair is the GPU run (one H100 in at most 5 minutes for all
cases), the second ``--quick`` (the CPU smoke run of the tests).
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch

from prune4rel.data import NoisyDataset
from prune4rel.devices import resolve_device
from prune4rel.learners import Callback, Learner, get_learner

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LEARNER_NAMES = ("ce", "elr", "sop", "sop+", "dividemix")
CIFAR_FILES = ("cifar10_small_webpq95.npz", "cifar10n_labels.npz")
#: What the gpu-marked tests import beyond a stock CUDA PyTorch image (``make gpu-prepare``
#: installs them, pure Python, into ``.gpu/site``, which the cases find on their path).
TEST_PACKAGES = ("pytest", "hypothesis")
TEST_SITE = REPO / ".gpu" / "site"


@dataclass
class Context:
    """What a case is run with: ``device`` ("cuda" or "cpu"), ``quick`` (small sizes),
    ``data`` (the folder with the CIFAR-10N files) and ``scratch`` (a folder of its own)."""

    device: str
    quick: bool
    data: Path
    scratch: Path

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")

    def size(self, full: Any, quick: Any) -> Any:
        return quick if self.quick else full


@dataclass
class Outcome:
    status: str  # "PASS", "FAIL" or "SKIP"
    detail: str
    metrics: dict[str, Any] = field(default_factory=dict)


def _verdict(ok: bool, detail: str, metrics: dict[str, Any] | None = None) -> Outcome:
    return Outcome("PASS" if ok else "FAIL", detail, metrics or {})


def _images(n: int, size: int, classes: int = 10, seed: int = 0) -> NoisyDataset:
    """Random uint8 images whose class shifts their mean colour (learnable), 20% label noise."""
    rng = np.random.default_rng(seed)
    clean = rng.integers(0, classes, n)
    x = rng.integers(0, 200, size=(n, size, size, 3), dtype=np.uint8)
    x[..., 0] += (clean * (50 // classes + 1)).astype(np.uint8)[:, None, None]
    noisy = np.where(rng.random(n) < 0.2, rng.integers(0, classes, n), clean)
    return NoisyDataset(x=x, noisy_labels=noisy, x_test=x[: n // 4].copy(), y_test=clean[: n // 4],
                        num_classes=classes, clean_labels=clean)


def _mapped(ds: NoisyDataset, path: Path) -> NoisyDataset:
    np.save(path, ds.x)
    return NoisyDataset(x=np.load(path, mmap_mode="r"), noisy_labels=ds.noisy_labels, x_test=ds.x_test,
                        y_test=ds.y_test, num_classes=ds.num_classes, clean_labels=ds.clean_labels)


def _cifar_missing(ctx: Context) -> Outcome | None:
    """SKIP (quick) or FAIL (GPU run) when the CIFAR-10N files are not in ``ctx.data``."""
    missing = [f for f in CIFAR_FILES if not (ctx.data / f).is_file()]
    if not missing:
        return None
    how = (f"`make gpu-prepare` copies {', '.join(CIFAR_FILES)} from ../shared/data into data_local "
           "(carry that folder to the GPU machine)")
    return Outcome("SKIP" if ctx.quick else "FAIL", f"{ctx.data} lacks {', '.join(missing)}: {how}")


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` from the repository root; its output goes to this case's log."""
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=os.environ.copy())
    print(f"$ {' '.join(cmd)}\n{done.stdout}{done.stderr}", flush=True)
    return done


# ---------------------------------------------------------------------------- gpu tests
def gpu_tests(ctx: Context) -> Outcome:
    """Every test marked ``gpu`` (pytest -m gpu on the files that hold them)."""
    if not ctx.cuda:
        return Outcome("SKIP", "the gpu-marked tests need CUDA (--device cpu)")
    missing = [name for name in TEST_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        return Outcome("SKIP", f"{' and '.join(missing)} not importable here, so the gpu-marked tests did "
                               "not run: `make gpu-prepare` (on a machine with the package registry) puts "
                               "them in .gpu/site; carry .gpu with data_local")
    files = sorted(str(p.relative_to(REPO)) for p in (REPO / "tests").glob("test_*.py")
                   if "pytest.mark.gpu" in p.read_text())
    done = _run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", "-rs", *files])
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|error|errors)", done.stdout)}
    ok = done.returncode == 0 and counts.get("passed", 0) > 0 and not counts.get("skipped")
    return _verdict(ok, f"{counts} from {len(files)} files (pytest exit {done.returncode})", counts)


# ---------------------------------------------------------------------------- learners
class _SaveAfterFirstEpoch(Callback):
    def __init__(self) -> None:
        self.saved: bytes | None = None

    def on_epoch_end(self, learner: Learner, epoch: int, logs: dict[str, Any]) -> None:
        if self.saved is None:
            buf = io.BytesIO()
            torch.save(learner.state_dict(), buf)
            self.saved = buf.getvalue()


def _fit_predict_resume(ctx: Context, name: str, data: NoisyDataset, state: str, dtype: str,
                        kind: str) -> str | None:
    """Fit 2 epochs, predict, re-label; resume a new learner from the state after epoch 1
    (``kind`` names the data in the log). Returns what is wrong, or None."""
    kwargs: dict[str, Any] = {
        "model": "airbench" if ctx.cuda else "small_cnn", "batch_size": 64, "amp": True, "seed": 0,
        "device": ctx.device, "state_dtype": dtype, "state_device": "cpu" if state == "cpu" else None,
    }
    if ctx.cuda:
        kwargs["model_kwargs"] = {"widths": [32, 64, 64]}
    else:
        kwargs["num_threads"] = 1
    if name == "dividemix":
        kwargs.update(warmup_epochs=1, rampup_epochs=1)
    saver = _SaveAfterFirstEpoch()
    full = get_learner(name, **kwargs)
    full.fit(data, epochs=2, progress=False, callbacks=[saver])
    device = resolve_device(ctx.device)
    if full.device != device or next(full.networks()["model"].parameters()).device != device:
        return f"network not on {device}"
    where = torch.device("cpu") if state == "cpu" else device
    for key, tensor in full.per_example_tensors().items():
        if tensor.device != where or (tensor.is_floating_point() and tensor.dtype != getattr(torch, dtype)):
            return f"state {key} is {tensor.dtype} on {tensor.device}, expected {dtype} on {where}"
    probs = full.predict(data)[0]
    if not (np.isfinite(probs).all() and np.allclose(probs.sum(1), 1.0, atol=1e-3)):
        return "predictions are not finite probabilities"
    if full.corrected_labels().shape != (data.n,):
        return "corrected_labels has the wrong shape"
    resumed = get_learner(name, **kwargs)
    assert saver.saved is not None
    resumed.load_state_dict(torch.load(io.BytesIO(saver.saved), weights_only=True))
    logs = resumed.fit(data, epochs=2, progress=False)
    if len(logs) != 1 or resumed.epochs_done != 2:
        return f"resume ran {len(logs)} epochs"
    gap = float(np.abs(resumed.predict(data)[0] - probs).max())
    if not ctx.cuda and gap != 0.0:  # the CPU is bit-identical; CUDA kernels need not be
        return f"resumed predictions differ by {gap:.2e} on the CPU"
    print(f"{name} state={state} {dtype} {kind}: resume gap {gap:.2e}", flush=True)
    return None


def _learner_case(name: str) -> Callable[[Context], Outcome]:
    def run(ctx: Context) -> Outcome:
        ram = _images(ctx.size(512, 64), ctx.size(32, 8))
        mapped = _mapped(ram, ctx.scratch / "x.npy")
        variants = [("device", "float32", ram), ("device", "float16", mapped),
                    ("cpu", "float32", mapped), ("cpu", "float16", ram)]
        for state, dtype, data in variants:
            kind = "mmap" if data is mapped else "ram"
            problem = _fit_predict_resume(ctx, name, data, state, dtype, kind)
            if problem:
                return Outcome("FAIL", f"state={state} {dtype} {kind}: {problem}")
        return Outcome("PASS", "fit/predict/resume, state on device and host x float32/float16, RAM and "
                       "mmap, amp on")

    run.__doc__ = f"{name}: fit, predict, re-label and resume in four state/data variants."
    return run


# ---------------------------------------------------------------------------- end to end
def cli_run(ctx: Context) -> Outcome:
    """``prune4rel run --device DEVICE`` on a CIFAR-10N worst slice (warm-up, 2 selectors, SOP+)."""
    missing = _cifar_missing(ctx)
    if missing:
        return missing
    out = ctx.scratch / "run"
    n_train, n_test = ctx.size((5000, 1000), (200, 100))
    cmd = [sys.executable, "-c", "from prune4rel.cli import main; main()", "run", "--dataset", "cifar10n",
           "--data-root", str(ctx.data), "--label-set", "worst", "--train-subset", str(n_train),
           "--test-subset", str(n_test), "--model", "airbench" if ctx.cuda else "small_cnn",
           "--learner", "sop+", "--method", "prune4rel,uniform", "--fractions", "0.5",
           "--warmup-epochs", str(ctx.size(2, 1)), "--epochs", str(ctx.size(3, 1)), "--device", ctx.device,
           "--out", str(out), "--quiet"]
    for stage in ("warmup", "train"):
        cmd += ["--set", f"{stage}.params.batch_size={ctx.size(256, 32)}",
                "--set", f"{stage}.params.amp=true"]
        if not ctx.cuda:
            cmd += ["--set", f"{stage}.params.num_threads=1"]
    done = _run(cmd)
    if done.returncode != 0:
        return Outcome("FAIL", f"prune4rel run exited {done.returncode}: {done.stderr.strip()[-300:]}")
    results = [json.loads(p.read_text()) for p in sorted(out.glob("result_*.json"))]
    want = str(resolve_device(ctx.device))
    images = "exact" if (ctx.data / "cifar10.npz").is_file() else "webp-q95"
    accs = {r["method"]: round(r["test_acc_best"], 3) for r in results}
    # a few epochs on a slice: the accuracies are reported, not judged (a CPU run of these
    # settings stayed near chance after 2 of the 3 epochs)
    ok = len(results) == 2 and all(r["device"] == want and 0.0 <= r["test_acc_best"] <= 1.0 for r in results)
    return _verdict(ok, f"results on {want} ({images} images): test acc {accs}", {"test_acc_best": accs})


def selection(ctx: Context) -> Outcome:
    """Prune4ReL's selection on the device equals the CPU graph backend's (set and order)."""
    sys.path.insert(0, str(HERE))
    from synthetic import clustered_signals

    from prune4rel.selection import Prune4ReL

    n, d = ctx.size((20_000, 256), (3000, 64))
    signals = clustered_signals(n, d, seed=0)
    want = Prune4ReL(backend="graph", device="cpu").select(signals, 0.2)
    # each backend must pick the CPU graph's set in the same order; "torch" is the tensor-core graph
    backends = ["dense", "torch"]
    metrics: dict[str, Any] = {"n": n, "d": d, "cpu_graph_s": round(want.seconds, 2)}
    problems = []
    for backend in backends:
        got = Prune4ReL(backend=backend, device=ctx.device).select(signals, 0.2)
        metrics[f"{backend}_s"] = round(got.seconds, 2)
        if not np.array_equal(got.indices, want.indices):
            same_set = set(got.indices.tolist()) == set(want.indices.tolist())
            problems.append(f"{backend}: {'same set, other order' if same_set else 'another set'}")
    detail = f"{n} x {d}, 20%: " + ", ".join(f"{k} {v}" for k, v in metrics.items() if k.endswith("_s"))
    detail += "; " + ("; ".join(problems) if problems else "identical")
    return _verdict(not problems, detail, metrics)


def ddp_torchrun(ctx: Context) -> Outcome:
    """The torchrun entry point (``-m prune4rel.pipeline.ddp_run``), one process, on digits."""
    from prune4rel.config import RunConfig
    from prune4rel.signals import Signals

    config = RunConfig.from_dict({
        "seed": 0, "device": ctx.device, "data": {"dataset": "digits"},
        "warmup": {"epochs": ctx.size(2, 1), "learner": "ce", "model": "mlp",
                   "params": {"batch_size": 64, "num_threads": 1}},
    })
    (ctx.scratch / "run.yaml").write_text(config.to_yaml())
    out = ctx.scratch / "signals.npz"
    done = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
                 "-m", "prune4rel.pipeline.ddp_run", "--config", str(ctx.scratch / "run.yaml"),
                 "--out", str(out), "--device", ctx.device, "--quiet"])
    if done.returncode != 0 or not out.is_file():
        return Outcome("FAIL", f"torchrun exited {done.returncode}: {done.stderr.strip()[-300:]}")
    signals = Signals.load(out)
    return _verdict(signals.losses is not None and signals.n > 0, f"signals n={signals.n} from 1 process")


def ddp_one_process_group(ctx: Context) -> Outcome:
    """DDPLoop training under a real process group of one rank (nccl on CUDA, gloo on CPU):
    broadcast of the order, the DDP wrapper's all-reduce, the per-example state's merge."""
    import torch.distributed as dist

    from prune4rel.data import load_digits_noisy
    from prune4rel.distributed.ddp import DDPLoop
    from prune4rel.learners import EpochRecorder

    backend = "nccl" if ctx.cuda else "gloo"
    device = resolve_device(ctx.device)
    if ctx.cuda:
        torch.cuda.set_device(device)
    # a file store in the case's own folder: no port to race for with other jobs on the machine;
    # the timeout turns a hung collective into an error instead of the case's time limit
    store = dist.FileStore(str(ctx.scratch / "process_group_store"), 1)
    dist.init_process_group(backend, store=store, rank=0, world_size=1, timeout=timedelta(seconds=60))
    print(f"process group up: {backend}, 1 rank", flush=True)
    try:
        ds = load_digits_noisy(0.4)
        learner = get_learner("elr", model="mlp", batch_size=64, device=device, seed=0, state_device="cpu",
                              num_threads=1)
        loop = DDPLoop()
        learner.training_loop = loop
        recorder = EpochRecorder()
        learner.fit(ds, epochs=2, progress=False, callbacks=[recorder])
        print("trained 2 epochs", flush=True)
        trained = bool(np.isfinite(recorder.losses).all()) and loop.local_count == ds.n
        targets = learner.per_example_tensors()["targets"]
        ok = trained and targets.device.type == "cpu" and bool(torch.isfinite(targets).all())
        return _verdict(ok, f"{backend}, 1 rank: ELR 2 epochs over {ds.n}, state merged on the host")
    finally:
        dist.destroy_process_group()


# ---------------------------------------------------------------------------- speed and accuracy
def mmap_epoch(ctx: Context) -> Outcome:
    """Seconds of a training epoch from a memory-mapped file vs from RAM (item 5)."""
    import prune4rel.data.input_pipeline as input_pipeline
    from prune4rel.learners import CE

    ram = _images(ctx.size(50_000, 600), ctx.size(32, 8))
    mapped = _mapped(ram, ctx.scratch / "x.npy")  # just written: its pages are in the page cache

    def epochs(ds: NoisyDataset, read_ahead: int) -> tuple[float, list[float]]:
        before = input_pipeline.PREFETCH_BATCHES
        input_pipeline.PREFETCH_BATCHES = read_ahead
        try:
            learner = CE("airbench" if ctx.cuda else "small_cnn", batch_size=512 if ctx.cuda else 64,
                         schedule="triangle", amp=ctx.cuda, device=ctx.device, seed=0,
                         num_threads=None if ctx.cuda else 1)
            learner.fit(ds, epochs=1, progress=False)  # warm-up: whitening, cuDNN autotuning
            logs = learner.fit(ds, epochs=2, progress=False)
        finally:
            input_pipeline.PREFETCH_BATCHES = before
        return float(np.median([log["seconds"] for log in logs])), [log["loss"] for log in logs]

    ram_s, ram_loss = epochs(ram, input_pipeline.PREFETCH_BATCHES)
    map_s, map_loss = epochs(mapped, input_pipeline.PREFETCH_BATCHES)
    metrics = {"n": ram.n, "ram_epoch_s": round(ram_s, 3), "mmap_epoch_s": round(map_s, 3),
               "ratio": round(map_s / ram_s, 2)}
    if not ctx.cuda:  # one path on the CPU: the mapped set must train bit-identically
        return _verdict(map_loss == ram_loss, f"CPU: RAM {ram_s:.2f}s, mmap {map_s:.2f}s an epoch, "
                        f"identical losses: {map_loss == ram_loss}", metrics)
    sync_s, _ = epochs(mapped, 0)
    metrics["mmap_no_read_ahead_epoch_s"] = round(sync_s, 3)
    ok = map_s <= 1.25 * ram_s + 0.05
    return _verdict(ok, f"{ram.n} images, epoch RAM {ram_s:.2f}s, mmap {map_s:.2f}s (x{map_s / ram_s:.2f}), "
                    f"mmap without read-ahead {sync_s:.2f}s (x{sync_s / ram_s:.2f}); bar x1.25", metrics)


def dividemix_vs_sop(ctx: Context) -> Outcome:
    """DivideMix vs SOP+ on a CIFAR-10N worst slice in grid.py's fast protocol (issue 12's bar:
    DivideMix's best test accuracy at least SOP+'s minus 3 points)."""
    missing = _cifar_missing(ctx)
    if missing:
        return missing
    import argparse

    from prune4rel.pipeline import run_experiment

    spec = importlib.util.spec_from_file_location("cifar10n_grid", HERE / "cifar10n" / "grid.py")
    assert spec is not None and spec.loader is not None
    grid = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grid)
    args = argparse.Namespace(
        # warm-up of one epoch: its signals go unused (uniform at fraction 1.0 keeps every example)
        protocol="fast", device=ctx.device, threads=None if ctx.cuda else 1, widths=None, warmup_epochs=1,
        epochs=ctx.size(12, 2), methods=["uniform"], tau=None, target_degree=None, fractions=[1.0],
        data=str(ctx.data), test_set="exact1k", train_subset=ctx.size(10_000, 200), model=None,
        batch_size=None if ctx.cuda else 32, lr=None,
    )
    found = {}
    for learner in ("sop+", "dividemix"):
        config = grid.run_config(args, "worst", learner, 0).with_overrides(
            {"test_subset": None if not ctx.quick else 100})
        run_dir = ctx.scratch / learner.replace("+", "plus")
        result = run_experiment(config, run_dir, progress=False)["results"][0]
        found[learner] = {k: result[k] for k in ("test_acc_best", "test_acc_last", "relabel_acc")}
        print(learner, found[learner], flush=True)
    sop, dm = found["sop+"]["test_acc_best"], found["dividemix"]["test_acc_best"]
    detail = (f"{args.train_subset} worst labels, {args.epochs} epochs: DivideMix best {dm:.1%} "
              f"(last {found['dividemix']['test_acc_last']:.1%}) vs SOP+ {sop:.1%}")
    if ctx.quick:
        return Outcome("PASS", detail + " (bar not checked in --quick)", found)
    return _verdict(dm >= sop - 0.03, detail + "; bar: SOP+ - 3 points", found)


@dataclass(frozen=True)
class Case:
    run: Callable[[Context], Outcome]
    limit_s: float  # on one H100
    quick_limit_s: float


#: The cases in the order they run (most basic first), with their time limits.
CASES: dict[str, Case] = {
    "gpu_tests": Case(gpu_tests, 120, 30),
    **{f"learner_{name}": Case(_learner_case(name), 45, 60) for name in LEARNER_NAMES},
    "cli_run": Case(cli_run, 90, 90),
    "selection": Case(selection, 45, 60),
    "ddp_process_group": Case(ddp_one_process_group, 45, 45),
    "ddp_torchrun": Case(ddp_torchrun, 60, 60),
    "mmap_epoch": Case(mmap_epoch, 60, 45),
    "dividemix_vs_sop": Case(dividemix_vs_sop, 120, 90),
}
