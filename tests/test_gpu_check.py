"""``benchmarks/gpu_check.py`` (``make gpu-check``): its CPU quick mode runs every case here, a
hung case is killed at its limit and fails the run, and the summary is written as it goes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
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
                               "--out", str(tmp_path), "--time-scale", "0.01", "--budget-s", "600")
    assert done.returncode == 1
    assert [c["status"] for c in summary["cases"]] == ["FAIL", "FAIL"]
    assert all("timed out" in c["detail"] for c in summary["cases"])
    assert "FAIL selection" in done.stdout


def test_unknown_cases_are_refused(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--only", "nope", "--out", str(tmp_path)], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")}, capture_output=True, text=True)
    assert done.returncode == 2 and "unknown case" in done.stderr


def _gpu_check_module():
    sys.path.insert(0, str(SCRIPT.parent))
    import gpu_check

    return gpu_check


def test_cases_find_the_prepared_test_packages_only_when_present(tmp_path: Path) -> None:
    case_pythonpath = _gpu_check_module().case_pythonpath
    site = tmp_path / ".gpu" / "site"
    assert case_pythonpath(tmp_path, site, "") == str(tmp_path / "src")
    assert case_pythonpath(tmp_path, site, "/x") == os.pathsep.join([str(tmp_path / "src"), "/x"])
    site.mkdir(parents=True)
    assert case_pythonpath(tmp_path, site, "/x").split(os.pathsep) == [str(tmp_path / "src"), str(site), "/x"]


def test_the_gpu_tests_case_names_the_missing_package_and_the_fix(tmp_path, monkeypatch) -> None:
    _gpu_check_module()
    import importlib.util

    import gpu_check_cases as cases

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "hypothesis" else real(name, *a))
    outcome = cases.gpu_tests(cases.Context("cuda", False, tmp_path, tmp_path))
    assert outcome.status == "SKIP"
    assert "hypothesis not importable" in outcome.detail and "pytest and" not in outcome.detail
    assert "make gpu-prepare" in outcome.detail


def _case_processes(marker: Path) -> list[int]:
    """Processes of a gpu_check case (not the parent) whose command line holds ``--data marker``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            words = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
            if proc.name.isdigit() and "--case" in words and str(marker) in words:
                found.append(int(proc.name))
        except OSError:  # gone meanwhile
            pass
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to find the case process")
def test_the_summary_names_the_running_case_and_terminating_kills_it(tmp_path: Path) -> None:
    marker = tmp_path / "data_marker"  # on the case's command line, to find it in /proc
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, str(SCRIPT), "--device", "cpu", "--quick", "--only", "learner_ce",
           "--data", str(marker), "--out", str(out)]
    parent = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not _case_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        summary = json.loads((out / "summary.json").read_text())
        assert summary["running"] == "learner_ce" and summary["cases"] == []
        parent.terminate()
        assert parent.wait(timeout=30) == 128 + 15
    finally:
        parent.kill()
    deadline = time.monotonic() + 10
    while _case_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _case_processes(marker) == []


def test_a_finished_run_drops_the_running_mark(tmp_path: Path) -> None:
    done, summary = _gpu_check("--device", "cpu", "--quick", "--only", "gpu_tests", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "running" not in summary and [c["case"] for c in summary["cases"]] == ["gpu_tests"]


def test_cases_past_the_runs_budget_fail_without_starting(tmp_path: Path) -> None:
    done, summary = _gpu_check("--device", "cpu", "--quick", "--only", "selection,learner_ce",
                               "--out", str(tmp_path), "--budget-s", "5")
    assert done.returncode == 1
    assert [(c["case"], c["status"], c["seconds"]) for c in summary["cases"]] == [
        ("selection", "FAIL", 0.0), ("learner_ce", "FAIL", 0.0)]
    assert all("not started" in c["detail"] and "5 s" in c["detail"] for c in summary["cases"])


def test_the_runs_budget_scales_with_the_time_scale_unless_given() -> None:
    gpu_check = _gpu_check_module()
    assert gpu_check.total_budget(None, 1.0) == gpu_check.DEFAULT_BUDGET_S
    assert gpu_check.total_budget(None, 2.0) == 2 * gpu_check.DEFAULT_BUDGET_S
    assert gpu_check.total_budget(100.0, 2.0) == 100.0
