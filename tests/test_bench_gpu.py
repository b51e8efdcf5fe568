"""benchmarks/bench_gpu.py: its generator, its CPU smoke mode and its time limits."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from prune4rel.neighbors import exact_graph

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_gpu.py"
spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
bench = importlib.util.module_from_spec(spec)
sys.modules["bench_gpu"] = bench  # the spawned children pickle Case by module name
spec.loader.exec_module(bench)


def test_planted_groups_give_20_to_100_neighbours_and_nothing_between_groups():
    emb = bench.planted_groups(3000, 512, seed=1, device="cpu")
    assert emb.shape == (3000, 512) and emb.dtype == torch.float32
    degrees = exact_graph(emb.numpy(), bench.TAU).degrees() - 1
    assert 20 <= degrees.mean() <= 100 and degrees.max() <= 95
    sample = bench.sample_degrees(emb, bench.TAU, 300, seed=2)
    assert abs(sample.mean() - degrees.mean()) < 10
    # every edge joins rows of one group: the same centre gives cosines far above the rest
    unit = emb.numpy() / np.linalg.norm(emb.numpy(), axis=1, keepdims=True)
    cos = unit @ unit.T
    np.fill_diagonal(cos, 0.0)
    assert np.sum((cos > 0.3) & (cos < 0.45)) < 0.001 * cos.size  # a gap below the threshold


def test_cpu_small_mode_writes_every_stage(tmp_path):
    out = tmp_path / "small.json"
    env = {**os.environ, "PYTHONPATH": str(SCRIPT.parents[1] / "src")}
    subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--small", "--out", str(out)],
                   check=True, env=env, timeout=300, capture_output=True)
    case = json.loads(out.read_text())["cases"]["4k x 256"]
    assert list(case["stages"]) == list(bench.STAGES)
    assert all("seconds" in info for stage, info in case["stages"].items() if stage != "start")
    assert 20 <= case["stages"]["degree"]["mean"] <= 100
    assert case["stages"]["graph"]["mean_degree"] == case["stages"]["graph"]["directed_edges"] / 4096
    assert case["stages"]["greedy 40%"]["picks"] == round(0.4 * 4096)
    assert case["selection_s"] > 0 and "target_met" in case


def test_a_stage_over_its_limit_is_killed_and_reported(tmp_path):
    limits = {**dict.fromkeys(bench.STAGES, 60.0), "start": 0.0}  # no time to import torch
    case = bench.Case("tiny", 500, 8, limits, None)
    report = bench.Report(tmp_path / "r.json", {})
    bench.run_case(case, "cpu", 0, report, deadline=float("inf"))
    stages = json.loads((tmp_path / "r.json").read_text())["cases"]["tiny"]["stages"]
    assert list(stages) == ["start"] and stages["start"]["status"] == "timed out after 0 s"
