"""Selection at ImageNet size on one GPU: torch_graph's exact graph, then the compiled greedy.

    python benchmarks/bench_gpu.py --out bench_gpu.json               # one CUDA GPU, < 3 min
    python benchmarks/bench_gpu.py --device cpu --small --out s.json  # seconds, any machine
    python benchmarks/bench_gpu.py --device cpu --compare-exact       # torch vs graph backend, CPU

Cases: 50,000 x 512 and 1,281,167 x 2048, embeddings generated on the device. Stages, each in
a child process under its own time limit (and all within ``--budget`` seconds): start (imports,
CUDA), generate, degree (tau-neighbours of 1,024 sampled rows against all rows), calibrate
(``calibrate_tau`` for degree 60 on the device, reported beside the tau used), warm-up (cuBLAS
and numba on a slice), graph (``torch_graph``, float16), greedy 20% and 40%
(``compiled_lazy_greedy``; uniform confidences, 1,000 random classes). One line per stage with
seconds and peak GPU memory (``torch.cuda.max_memory_allocated``); the JSON is rewritten after
every stage, so a stage that runs out of time leaves the earlier ones on disk.

Embeddings: groups of 24-96 near-duplicates around random unit centres (member ``c + s z /
sqrt(d)``, ``z`` standard normal, ``s`` uniform in [0.45, 1.0]), rows shuffled. Two members
have cosine about ``1 / sqrt((1 + s_i^2)(1 + s_j^2))`` in [0.5, 0.83], so at tau = 0.75
(cosine 0.5) a row has about its group size minus one neighbours (60 on average, a few pairs of
wide members fall below), while rows of different groups have cosines of sd ``1 / sqrt(d)``
(0.044 at d = 512): none reaches 0.5. Nothing for a triangle-inequality plan: members lie 24 to
45 degrees from their centre and centres are ~90 degrees apart, so even clusters equal to the
groups bound no pair beyond the 60-degree threshold (90 - 2 x 24 < 60); every product is done.

Expected figures (sizing, H100 SXM; an H200 is ~1.2x faster on the products):

* products: the upper triangle is 1.28M^2 / 2 = 8.2e11 pairs x 2 x 2048 = 3.4 PFLOP; large
  float16 GEMMs run at 600-750 TFLOP/s (989 peak; a bf16 8192^3 product reaches ~790 on an
  H200): 4.5-5.7 s, in 820 tiles of up to 16,384 x 65,536 (79 row blocks, each against the
  column blocks from its own row on; a full tile is 4.4 TFLOP, ~7 ms; the tiles on the
  diagonal also compute their lower part, counted in the 3.4).
* threshold: each tile's float16 products are written, compared (1-byte mask) and scanned
  by ``nonzero``: ~6 bytes an entry, 5 TB at 3.35 TB/s: ~1.5 s.
* float64 decisions: ~4e7 candidate pairs (60 neighbours a row, half of them per pair), two
  gathered rows each (16 KB float32 read, ~64 KB of float64 temporaries): ~4 TB, ~1.2 s.
* edges: ~8e7 directed edges sorted on the GPU (``device_csr``, well under a second), 0.6 GB
  copied to the host (~0.1 s) and wrapped as CSR there (~0.5 s).
* greedy (one host core): on this planted-groups graph at full size (8.6e7 directed edges,
  built on the CPU from the groups), 9.0 s at 20% and 16.2 s at 40% on a shared, loaded
  2-core EPYC (~35 us a pick); a GPU host's core should take 4-7 s at 20%.

So ~8-10 s for the graph and ~13-20 s for the whole selection at 1.28M x 2048, 20% (target:
30 s); at 50k x 512 ~0.05 s of products and ~0.15 s of greedy (target: 0.5 s). Peak GPU memory
~30 GB (10.5 GB embeddings, 5.2 GB float16 unit rows, a 3.2 GB tile, batches of float64
decisions up to an eighth of the free memory, sorting the edges).

``--compare-exact`` (CPU): ``torch_graph`` (float32) against ``exact_graph`` on
``benchmarks/synthetic.py`` data at 50,000 x 512 and tau 0.975, both timed in the same run:
the same edges, and the compiled greedy's picks on each graph at 20% and 80%, checked against
``Prune4ReL(backend="graph")``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # also without PYTHONPATH=src

TAU = 0.75
STAGES = ("start", "generate", "degree", "calibrate", "warm-up", "graph", "greedy 20%", "greedy 40%")


@dataclass(frozen=True)
class Case:
    """One benchmark size with its time limit per stage (seconds) and selection target."""

    name: str
    n: int
    dim: int
    limits: dict[str, float]
    target_s: float | None
    tau: float = TAU


_SMALL_LIMITS = dict.fromkeys(STAGES, 30.0)
_LARGE_LIMITS = {"start": 60.0, "generate": 30.0, "degree": 20.0, "calibrate": 30.0, "warm-up": 30.0,
                 "graph": 90.0, "greedy 20%": 40.0, "greedy 40%": 40.0}
GPU_CASES = (Case("50k x 512", 50_000, 512, _SMALL_LIMITS, 0.5),
             Case("1.28M x 2048", 1_281_167, 2048, _LARGE_LIMITS, 30.0))
SMALL_CASES = (Case("4k x 256", 4096, 256, _SMALL_LIMITS, 0.5),)


def planted_groups(n: int, dim: int, seed: int, device: str, chunk: int = 65536) -> Any:
    """Float32 embeddings, shape (n, dim), on ``device``: shuffled groups of near-duplicates."""
    import torch

    rng = np.random.default_rng(seed)
    sizes = rng.integers(24, 97, size=n // 24 + 1)
    group = rng.permutation(np.repeat(np.arange(sizes.size), sizes)[:n])
    gen = torch.Generator(device=device).manual_seed(seed)
    centres = torch.randn(sizes.size, dim, generator=gen, device=device)
    centres /= centres.norm(dim=1, keepdim=True)
    ids = torch.from_numpy(group).to(device)
    out = torch.empty((n, dim), dtype=torch.float32, device=device)
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        spread = 0.45 + 0.55 * torch.rand(hi - lo, 1, generator=gen, device=device)
        noise = torch.randn(hi - lo, dim, generator=gen, device=device)
        out[lo:hi] = centres[ids[lo:hi]] + spread * noise / dim**0.5
    return out


def sample_degrees(emb: Any, tau: float, sample: int, seed: int, chunk: int = 65536) -> np.ndarray:
    """Tau-neighbours (self excluded, float32 cosines) of ``sample`` random rows among all rows."""
    import torch

    from prune4rel.neighbors.torch_backend import full_precision_matmul, torch_unit_rows

    n = emb.shape[0]
    picks = np.random.default_rng(seed).choice(n, min(sample, n), replace=False)
    queries, _ = torch_unit_rows(emb[torch.from_numpy(picks).to(emb.device)])
    counts = torch.zeros(picks.size, dtype=torch.long, device=emb.device)
    for lo in range(0, n, chunk):
        unit, _ = torch_unit_rows(emb[lo : lo + chunk])
        with full_precision_matmul():
            counts += (queries @ unit.T > 2.0 * tau - 1.0).sum(1)
    return counts.cpu().numpy() - 1


def _child(case: Case, device: str, seed: int, out: Any) -> None:
    """Run the stages of one case, reporting ("start", stage) and ("done", stage, info)."""
    stage = "start"
    try:
        import torch

        from prune4rel.neighbors import calibrate_tau, torch_graph
        from prune4rel.selection.greedy_numba import compiled_lazy_greedy

        cuda = torch.device(device).type == "cuda"
        name = torch.cuda.get_device_name(device) if cuda else "cpu"
        out.put(("done", stage, {"device": name, "torch": torch.__version__}))

        def run(name: str, work: Any) -> Any:
            nonlocal stage
            stage = name
            out.put(("start", name))
            if cuda:
                torch.cuda.synchronize(device)
                torch.cuda.reset_peak_memory_stats(device)
            start = time.perf_counter()
            value, info = work()
            if cuda:
                torch.cuda.synchronize(device)
                info["peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
            out.put(("done", name, {"seconds": time.perf_counter() - start, **info}))
            return value

        emb = run("generate", lambda: (planted_groups(case.n, case.dim, seed, device), {}))
        rng = np.random.default_rng(seed + 1)
        conf, labels = rng.uniform(0.05, 1.0, case.n), rng.integers(0, 1000, case.n)

        def degree() -> tuple[None, dict[str, float]]:
            deg = sample_degrees(emb, TAU, 1024, seed)
            p5, p95 = np.percentile(deg, [5, 95])
            return None, {"mean": float(deg.mean()), "min": int(deg.min()), "p5": float(p5),
                          "p95": float(p95), "max": int(deg.max()), "rows": int(deg.size)}

        run("degree", degree)
        run("calibrate", lambda: (None, {"tau_for_degree_60": calibrate_tau(emb, 60.0, device=device,
                                                                            chunk=65536), "tau_used": TAU}))

        def warm_up() -> tuple[None, dict[str, int]]:
            small = torch_graph(emb[:8192], TAU, device=device)
            compiled_lazy_greedy(small, conf[: small.n], labels[: small.n], max(1, small.n // 5))
            return None, {"rows": small.n}

        run("warm-up", warm_up)

        def graph() -> tuple[Any, dict[str, float]]:
            g = torch_graph(emb, TAU, device=device)
            return g, {"directed_edges": g.nnz - g.n, "mean_degree": (g.nnz - g.n) / g.n}

        g = run("graph", graph)
        for fraction in (0.2, 0.4):
            budget = round(fraction * case.n)
            run(f"greedy {fraction:.0%}", lambda b=budget: (
                None, {"picks": int(compiled_lazy_greedy(g, conf, labels, b).indices.size)}))
        out.put(("end",))
    except BaseException:
        out.put(("error", stage, traceback.format_exc()))


class Report:
    """The JSON summary, rewritten (atomically) after every event, and the printed lines."""

    def __init__(self, path: Path | None, meta: dict[str, Any]) -> None:
        self.path, self.data = path, {**meta, "cases": {}}

    def stage(self, case: Case, stage: str, info: dict[str, Any]) -> None:
        entry = self.data["cases"].setdefault(case.name, {"n": case.n, "dim": case.dim, "tau": case.tau,
                                                          "target_s": case.target_s, "stages": {}})
        entry["stages"][stage] = info
        stages = entry["stages"]
        timed = "seconds" in stages.get("graph", {}) and "seconds" in stages.get("greedy 20%", {})
        if timed and case.target_s is not None:
            entry["selection_s"] = stages["graph"]["seconds"] + stages["greedy 20%"]["seconds"]
            entry["target_met"] = entry["selection_s"] <= case.target_s
        seconds = f"{info['seconds']:9.3f}" if "seconds" in info else f"{'-':>9}"
        peak = f"{info['peak_gib']:8.2f}" if "peak_gib" in info else f"{'-':>8}"
        notes = ", ".join(f"{k}={_fmt(v)}" for k, v in info.items() if k not in ("seconds", "peak_gib"))
        print(f"{case.name:>13} {stage:>11} {seconds} {peak}  {notes}", flush=True)
        self.write()

    def write(self) -> None:
        if self.path is not None:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.data, indent=1))
            os.replace(tmp, self.path)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value).strip().splitlines()[-1]


def run_case(case: Case, device: str, seed: int, report: Report, deadline: float) -> None:
    """Run ``case`` in a child process, killing it when a stage outlives its limit."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(target=_child, args=(case, device, seed, out), daemon=True)
    child.start()
    stage, started = "start", time.perf_counter()
    while True:
        limit = min(case.limits[stage], deadline - started)
        try:
            msg = out.get(timeout=min(1.0, max(0.05, started + limit - time.perf_counter())))
        except queue.Empty:
            if not child.is_alive():
                report.stage(case, stage, {"status": f"child exited with code {child.exitcode}"})
                break
            if time.perf_counter() - started > limit:
                child.kill()
                report.stage(case, stage, {"status": f"timed out after {limit:.0f} s"})
                break
            continue
        if msg[0] == "start":
            stage, started = msg[1], time.perf_counter()
        elif msg[0] == "done":
            report.stage(case, msg[1], msg[2])
        elif msg[0] == "error":
            report.stage(case, msg[1], {"status": "error", "error": msg[2]})
            break
        else:
            break
    child.join(timeout=10)
    if child.is_alive():
        child.kill()


def compare_exact(n: int, dim: int, seed: int, report: Report) -> None:
    """CPU: torch_graph against exact_graph (the graph backend) and their selections."""
    from synthetic import clustered_signals

    from prune4rel.neighbors import exact_graph, torch_graph
    from prune4rel.selection import Prune4ReL, resolve_budget
    from prune4rel.selection.greedy_numba import compiled_lazy_greedy
    from prune4rel.selection.prune4rel_selector import confidence_scores

    case = Case(f"{n // 1000}k x {dim}", n, dim, {}, None, tau=0.975)
    sig = clustered_signals(n=n, dim=dim, seed=seed)
    tau, conf = case.tau, confidence_scores(sig.probs)
    graphs = {}
    for name, build in (("exact_graph", exact_graph), ("torch_graph", torch_graph)):
        start = time.perf_counter()
        graphs[name] = build(sig.embeddings, tau)
        report.stage(case, name, {"seconds": time.perf_counter() - start, "edges": graphs[name].nnz})
    a, b = graphs["exact_graph"], graphs["torch_graph"]
    compiled_lazy_greedy(a, conf, sig.labels, 1)  # load the compiled kernel before timing
    same = np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
    report.stage(case, "same edges", {"edges": bool(same), "sims_differ": int(np.sum(a.sims != b.sims)),
                                      "max_sim_diff": float(np.abs(a.sims - b.sims).max())})
    for fraction in (0.2, 0.8):
        budget = resolve_budget(fraction, n)
        picks = {}
        for name, g in graphs.items():
            start = time.perf_counter()
            picks[name] = compiled_lazy_greedy(g, conf, sig.labels, budget).indices
            report.stage(case, f"greedy {fraction:.0%} {name}", {"seconds": time.perf_counter() - start})
        start = time.perf_counter()
        selector = Prune4ReL(backend="graph").select(sig, budget).indices
        ours, theirs = picks["torch_graph"], picks["exact_graph"]
        report.stage(case, f"select {fraction:.0%} Prune4ReL(graph)", {
            "seconds": time.perf_counter() - start,
            "same_as_exact_graph": bool(np.array_equal(selector, theirs)),
            "torch_same_order": bool(np.array_equal(ours, theirs)),
            "torch_same_set": bool(np.array_equal(np.sort(ours), np.sort(theirs)))})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="'cuda', 'cuda:N' or 'cpu'")
    ap.add_argument("--small", action="store_true", help="one 4,096 x 256 case (seconds)")
    ap.add_argument("--compare-exact", action="store_true", help="CPU: torch vs exact graph, 50k x 512")
    ap.add_argument("--budget", type=float, default=170.0, help="seconds for all cases together")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="JSON summary, rewritten as results come")
    args = ap.parse_args(argv)
    report = Report(args.out, {"command": sys.argv if argv is None else ["bench_gpu.py", *argv],
                               "device": args.device, "budget_s": args.budget})
    print(f"{'case':>13} {'stage':>11} {'seconds':>9} {'peak_GiB':>8}  notes")
    if args.compare_exact:
        compare_exact(50_000, 512, args.seed, report)
        return
    deadline = time.perf_counter() + args.budget
    for case in SMALL_CASES if args.small else GPU_CASES:
        if time.perf_counter() >= deadline - 5:
            report.stage(case, "start", {"status": "skipped: budget spent"})
            continue
        run_case(case, args.device, args.seed, report, deadline)


if __name__ == "__main__":
    main()
