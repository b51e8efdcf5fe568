"""How the neighbourhood size behind tau changes what Prune4ReL selects (selection only, CPU).

For the shared CIFAR-10N worst warm-up signals (``cifar10n_worst_signals_smallcnn.npz``: a small
CNN, 8 epochs of CE, 50,000 examples) and any other ``--signals`` files (e.g. the grid's
``signals.npz``), prints the mean number of tau-neighbours (self excluded) at tau 0.99 / 0.975
/ 0.95: the published fixed tau means very different neighbourhoods for different warm-ups.

Then, on the shared worst signals, for each ``--targets`` mean degree: the tau
:func:`~prune4rel.neighbors.calibrate_tau` returns (2,048 sampled rows), the mean degree the
exact graph has at that tau, the calibration time, and for ``prune4rel`` (published) and
``prune4rel_agree`` at fractions 0.2/0.4/0.6/0.8 the subset's wrong-label rate, the share of
examples with a selected neighbour and the accuracy of a vote of the selected neighbours' given
labels (the training-free proxy of ``selection_diagnostics.py``). Clean labels are read for
these measurements only. Each greedy runs on a graph built once per target (the compiled
engine; the ``prune4rel_agree`` runs on the graph re-ordered by given-label probability, which
is what the selector does)::

    .venv/bin/python benchmarks/cifar10n/tau_calibration.py --data ../shared/data \\
        --out benchmarks/cifar10n/tau_calibration.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from selection_diagnostics import FRACTIONS, vote_proxy

from prune4rel.neighbors import CSRGraph, calibrate_tau, exact_graph
from prune4rel.selection.greedy_numba import compiled_lazy_greedy
from prune4rel.selection.prune4rel_variants import agreement_confidence, given_label_probability


def mean_degree(embeddings: np.ndarray, tau: float) -> float:
    """Mean number of tau-neighbours besides the example itself."""
    return float((exact_graph(embeddings, tau).degrees() - 1).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--signals", nargs="*", default=[], help="more signals .npz files to report degrees of")
    ap.add_argument("--targets", type=float, nargs="+", default=[5.0, 20.0, 92.0, 300.0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="JSON file for the numbers")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = Path(args.data)
    shared = data / "cifar10n_worst_signals_smallcnn.npz"
    out: dict = {"degrees_at_fixed_tau": {}, "targets": []}
    for path in [shared, *map(Path, args.signals)]:
        emb = np.load(path)["embeddings"]
        row = {str(tau): mean_degree(emb, tau) for tau in (0.99, 0.975, 0.95)}
        out["degrees_at_fixed_tau"][str(path)] = {"n": int(emb.shape[0]), "dim": int(emb.shape[1]), **row}
        cells = " ".join(f"tau {t}: {d:.1f}" for t, d in row.items())
        print(f"{path}: n={emb.shape[0]} mean degree {cells}", flush=True)

    sig = np.load(shared)
    emb = sig["embeddings"]
    labels = sig["labels"].astype(np.int64)
    probs = sig["probs"].astype(np.float64)
    clean = np.load(data / "cifar10n_labels.npz")["clean_label"].astype(np.int64)
    n = labels.shape[0]
    noisy = labels != clean
    order = np.lexsort((np.arange(n), -given_label_probability(probs, labels)))
    confs = {"prune4rel": (None, probs.max(axis=1)),
             "prune4rel_agree": (order, agreement_confidence(probs, labels))}
    for target in args.targets:
        t = time.perf_counter()
        tau = calibrate_tau(emb, target)
        seconds = time.perf_counter() - t
        graph = exact_graph(emb, tau)
        adj = graph.to_scipy().astype(np.float64)
        row: dict = {"target": target, "tau": tau, "calibration_seconds": seconds,
                     "mean_degree": float((graph.degrees() - 1).mean()), "methods": {}}
        print(f"target {target:g}: tau {tau:.5f} ({seconds:.1f} s), "
              f"graph mean degree {row['mean_degree']:.1f}", flush=True)
        for name, (perm, conf) in confs.items():
            g = graph if perm is None else CSRGraph.from_scipy(adj[perm][:, perm], tau, symmetric=True)
            p = np.arange(n) if perm is None else perm
            cells = {}
            for f in FRACTIONS:
                res = compiled_lazy_greedy(g, conf[p], labels[p], round(f * n))
                idx = p[res.indices]
                cov, acc = vote_proxy(adj, idx, labels, clean)
                cells[str(f)] = {"noise": float(noisy[idx].mean()), "covered": cov, "vote_acc": acc}
            row["methods"][name] = cells
            text = " ".join(f"{c['noise']:.3f}/{c['covered']:.2f}/{c['vote_acc']:.3f}"
                            for c in cells.values())
            print(f"  {name:16s} noise/covered/vote {text}", flush=True)
        out["targets"].append(row)
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
