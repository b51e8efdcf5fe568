"""``benchmarks/gpu_check.py`` (``make gpu-check``): its CPU quick mode runs every case here, a
hung case is killed at its limit and fails the run, and the summary is written as it goes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.py"


def _gpu_check(*args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    out = Path(args[args.index("--out") + 1])
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=3000)
    return done, json.loads((out / "summary.json").read_text())


@pytest.mark.slow
def test_quick_cpu_mode_runs_every_case(tmp_path: Path, shared_data: Path) -> None:
    data = tmp_path / "data_local"  # the WebP copy only, as carried to a GPU machine
    data.mkdir()
    for name in ("cifar10_small_webpq95.npz", "cifar10n_labels.npz"):
        (data / name).symlink_to(shared_data / name)
    done, summary = _gpu_check("--device", "cpu", "--quick", "--data", str(data),
                               "--out", str(tmp_path / "out"), "--budget-s", "3000", "--time-scale", "8")
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(SCRIPT.parent))
    from gpu_check_cases import CASES

    status = {c["case"]: c["status"] for c in summary["cases"]}
    assert list(status) == list(CASES)
    assert status.pop("gpu_tests") == "SKIP" and set(status.values()) == {"PASS"}, summary
    lines = [line for line in done.stdout.splitlines() if line[:4] in ("PASS", "FAIL", "SKIP")]
    assert len(lines) == len(CASES)
    cli = next(c for c in summary["cases"] if c["case"] == "cli_run")
    assert "webp-q95 images" in cli["detail"]
    assert (tmp_path / "out" / "gpu_check.log").stat().st_size > 0


def test_a_case_over_its_limit_is_killed_and_fails_the_run(tmp_path: Path) -> None:
    done, summary = _gpu_check("--device", "cpu", "--quick", "--only", "selection,learner_ce",
                               "--out", str(tmp_path), "--time-scale", "0.01")
    assert done.returncode == 1
    assert [c["status"] for c in summary["cases"]] == ["FAIL", "FAIL"]
    assert all("timed out" in c["detail"] for c in summary["cases"])
    assert "FAIL selection" in done.stdout


def test_unknown_cases_are_refused(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--only", "nope", "--out", str(tmp_path)], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")}, capture_output=True, text=True)
    assert done.returncode == 2 and "unknown case" in done.stderr
