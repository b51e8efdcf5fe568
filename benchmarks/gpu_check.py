"""``make gpu-check``: the first thing to run on a machine with a GPU (at most 5 minutes on one H100).

It checks that the GPU path works, case by case, each in its own process under its own time
limit (a hung case is killed and the next one runs):

- ``gpu_tests``: every test marked ``gpu`` (``pytest -m gpu``; a SKIP line if pytest or hypothesis is
  absent);
- ``learner_*``: CE, ELR, SOP, SOP+ and DivideMix fit, predict, re-label and resume from a
  checkpoint on CUDA, with the per-example state on the GPU and on the host, in float32 and
  float16, from RAM and from a memory-mapped file, amp on;
- ``cli_run``: ``prune4rel run --device cuda`` end to end on a CIFAR-10N worst slice;
- ``selection``: Prune4ReL's selection on the GPU (dense rows) equals the CPU graph backend's;
- ``ddp_process_group`` / ``ddp_torchrun``: data-parallel training under an nccl process group
  of one rank, and the torchrun entry point ``-m prune4rel.pipeline.ddp_run``;
- ``mmap_epoch``: seconds of an epoch from a memory-mapped file vs from RAM (and without the
  read-ahead), on 50,000 CIFAR-sized images;
- ``dividemix_vs_sop``: DivideMix against SOP+ on a CIFAR-10N worst slice in ``grid.py``'s fast
  protocol (DivideMix must reach SOP+'s test accuracy minus 3 points).

It prints one PASS / FAIL / SKIP line per case with its seconds, writes ``summary.json``
(before every case, naming it under ``running``, and after it) and ``gpu_check.log`` (each
case's output) into ``--out``, and exits non-zero when a case fails; terminated, it kills the
running case first. Needs only numpy, scipy, scikit-learn, numba, click, pyyaml, tqdm,
matplotlib, pillow and torch (a stock CUDA PyTorch image); pytest and hypothesis for the first
case, which ``make gpu-prepare`` installs into ``.gpu/site`` (with the data below) to carry.

The CIFAR-10N cases read ``cifar10_small_webpq95.npz`` and ``cifar10n_labels.npz`` from
``--data`` (default ``data_local``, a git-ignored folder of the checkout)::

    make gpu-prepare   # here: data_local/ and .gpu/site (pytest, hypothesis); carry both
    make gpu-check     # there: PYTHONPATH=src python3 benchmarks/gpu_check.py --data data_local
    PYTHONPATH=src python3 benchmarks/gpu_check.py --device cpu --quick --data ../shared/data

``--device cpu --quick`` runs the same cases small on the CPU (a minute or two; the GPU-only
bars are not checked there).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # also without PYTHONPATH=src

import torch
from gpu_check_cases import CASES, REPO, TEST_SITE, Context, Outcome

#: Expected on one H100: ~250 s, most of it process and CUDA start-up (one process a case);
#: the budget caps the whole run with margin, inside the 420 s a device call is given.
DEFAULT_BUDGET_S = 360.0


def total_budget(budget_s: float | None, time_scale: float) -> float:
    """Seconds for the whole run: ``--budget-s``, or by default 360 s times ``--time-scale``
    (a slower card gets more time for the run as well as for each case)."""
    return DEFAULT_BUDGET_S * time_scale if budget_s is None else budget_s


def _environment(device: str) -> dict[str, Any]:
    env = {"python": platform.python_version(), "torch": torch.__version__, "cuda_build": torch.version.cuda,
           "device": device, "host": platform.node()}
    if torch.cuda.is_available():
        env["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return env


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=1))
    tmp.replace(path)


def case_pythonpath(repo: Path, test_site: Path, inherited: str) -> str:
    """PYTHONPATH of a case process: the checkout's ``src``, the test packages of ``make
    gpu-prepare`` when that folder exists, then whatever the caller had."""
    parts = [str(repo / "src"), str(test_site) if test_site.is_dir() else "", inherited]
    return os.pathsep.join(p for p in parts if p)


def _run_case(name: str, args: argparse.Namespace, limit: float, log: Path) -> dict[str, Any]:
    """Run case ``name`` in a process of its own (its own session, killed with its children
    after ``limit`` seconds); returns its record."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"gpu_check_{name}_") as scratch:
        result = Path(scratch) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--case", name, "--result", str(result),
               "--scratch", scratch, "--device", args.device, "--data", str(args.data)]
        cmd += ["--quick"] if args.quick else []
        env = {**os.environ, "PYTHONUNBUFFERED": "1",
               "PYTHONPATH": case_pythonpath(REPO, TEST_SITE, os.environ.get("PYTHONPATH", ""))}
        with log.open("a") as fh:
            fh.write(f"\n===== {name} (limit {limit:.0f} s) =====\n")
            fh.flush()
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=REPO,
                                    start_new_session=True)
            code: int | None = None
            try:
                code = proc.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                pass
            finally:  # also when this process is interrupted or terminated: no orphaned case
                if proc.poll() is None:
                    _kill_group(proc)
        seconds = time.perf_counter() - start
        if code is None:
            record = {"status": "FAIL", "detail": f"timed out after {limit:.0f} s (killed)", "metrics": {}}
        elif result.is_file():
            record = json.loads(result.read_text())
        else:
            record = {"status": "FAIL", "detail": f"the case process exited {code} without a result",
                      "metrics": {}}
    return {"case": name, **record, "seconds": round(seconds, 1)}


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill a case process and everything it started (its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _log_tail(log: Path, case: str, lines: int = 12) -> str:
    text = log.read_text(errors="replace")
    section = text[text.rfind(f"===== {case} ") :].splitlines()[1:]
    return "\n".join("    | " + line for line in section[-lines:])


def run_all(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log, summary_path = out / "gpu_check.log", out / "summary.json"
    log.write_text("")
    names = list(CASES) if not args.only else [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        print(f"unknown case(s) {unknown}; the cases are {', '.join(CASES)}", file=sys.stderr)
        return 2
    summary: dict[str, Any] = {"environment": _environment(args.device), "quick": args.quick,
                               "data": str(args.data), "cases": []}
    print(f"gpu-check on {summary['environment'].get('gpus', ['no GPU'])} (torch {torch.__version__}, "
          f"--device {args.device}{' --quick' if args.quick else ''}); log: {log}", flush=True)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("FAIL no CUDA GPU is visible to torch: run with --device cpu --quick, or on a GPU machine")
        summary["cases"].append({"case": "cuda_visible", "status": "FAIL", "detail": "no CUDA GPU",
                                 "seconds": 0.0})
        _write_json(summary_path, summary)
        return 1
    # SIGTERM (a scheduler, a time limit) unwinds like Ctrl-C, so the running case is killed too
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    budget = total_budget(args.budget_s, args.time_scale)
    start = time.perf_counter()
    for name in names:
        case = CASES[name]
        summary["running"] = name  # a run killed from outside still says where it stopped
        _write_json(summary_path, summary)
        left = budget - (time.perf_counter() - start)
        if left < 10:
            record = {"case": name, "status": "FAIL", "seconds": 0.0, "metrics": {},
                      "detail": f"not started: the run's budget of {budget:.0f} s was spent (--budget-s)"}
        else:
            limit = args.time_scale * (case.quick_limit_s if args.quick else case.limit_s)
            record = _run_case(name, args, min(limit, left), log)
        summary["cases"].append(record)
        summary["seconds"] = round(time.perf_counter() - start, 1)
        _write_json(summary_path, summary)
        print(f"{record['status']:4s} {name:18s} {record['seconds']:6.1f} s  {record['detail']}", flush=True)
        if record["status"] == "FAIL":
            print(_log_tail(log, name), flush=True)
    summary.pop("running", None)
    _write_json(summary_path, summary)
    counts = {s: sum(r["status"] == s for r in summary["cases"]) for s in ("PASS", "FAIL", "SKIP")}
    print(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped in "
          f"{summary['seconds']:.0f} s; summary: {summary_path}", flush=True)
    return 1 if counts["FAIL"] else 0


def run_one(args: argparse.Namespace) -> int:
    """The child side: run one case and write its result file."""
    ctx = Context(args.device, args.quick, args.data, Path(args.scratch))
    try:
        outcome = CASES[args.case].run(ctx)
    except Exception as exc:  # reported as the case's FAIL line; the traceback goes to the log
        traceback.print_exc()
        outcome = Outcome("FAIL", f"{type(exc).__name__}: {str(exc).strip()[:300]}")
    _write_json(Path(args.result), {"status": outcome.status, "detail": outcome.detail,
                                    "metrics": outcome.metrics})
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    ap.add_argument("--quick", action="store_true", help="small sizes (the CPU smoke run)")
    ap.add_argument("--data", type=Path, default=Path("data_local"),
                    help="folder with cifar10_small_webpq95.npz and cifar10n_labels.npz")
    ap.add_argument("--out", type=Path, default=Path("runs/gpu_check"), help="summary.json and gpu_check.log")
    ap.add_argument("--budget-s", type=float, default=None,
                    help=f"seconds for the whole run (default {DEFAULT_BUDGET_S:.0f} x --time-scale); cases "
                         "not started by then fail (each case also has its own limit)")
    ap.add_argument("--time-scale", type=float, default=1.0,
                    help="multiply every case's time limit (a slower card or a busy machine)")
    ap.add_argument("--only", default="", help="comma-separated case names (default: all)")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    ap.add_argument("--scratch", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.data = args.data.resolve()  # the cases run from the repository root
    return run_one(args) if args.case else run_all(args)


if __name__ == "__main__":
    sys.exit(main())
