"""Selection-only diagnostics of Prune4ReL on real CIFAR-10N worst warm-up signals (no training).

Uses ``cifar10n_worst_signals_smallcnn.npz`` (a small CNN's 8-epoch cross-entropy warm-up on
the worst labels; see ``../shared/data/README.md``) and the clean labels, for evaluation only:

    .venv/bin/python benchmarks/cifar10n/selection_diagnostics.py --data ../shared/data \\
        --out benchmarks/cifar10n/selection_diagnostics.json

Prints, and writes as JSON:

* degree (number of tau-neighbours, self included) vs. noise rate and prediction agreement;
* for every confidence rule x greedy objective, at fractions 0.2/0.4/0.6/0.8: the subset's
  wrong-label rate, the share of all examples with a selected neighbour ("covered"), and the
  accuracy, against the clean labels, of a vote of the selected neighbours' *given* labels
  over the covered examples (a training-free proxy of how well the subset can re-label);
* the noise rate and median degree of each fifth of the 0.4 subset in pick order (which
  examples the greedy adds late);
* the same three numbers for Uniform and SmallLoss.

The tau-graph is built once (about 15 s on one core) and every greedy runs on it
(:func:`prune4rel.selection.greedy.lazy_greedy`, about 1-2 s a run for the published rule,
5-15 s for the full objective). The ``fill`` rows reproduce
:class:`~prune4rel.selection.Prune4ReLAgree` (checked against the selector on a small case in
``tests/test_prune4rel_variants.py``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
import torch

from prune4rel.neighbors import CSRGraph, GraphRows, exact_graph
from prune4rel.selection.greedy import lazy_greedy
from prune4rel.selection.prune4rel_variants import agreement_confidence, given_label_probability

FRACTIONS = (0.2, 0.4, 0.6, 0.8)


def vote_proxy(adj, idx: np.ndarray, labels: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    """Share of examples with a selected neighbour, and accuracy of the neighbours' label vote.

    Parameters
    ----------
    adj : scipy.sparse.csr_matrix, shape (n, n)
        Similarities of the tau-graph.
    idx : ndarray of int
        The subset.
    labels, clean : ndarray of int, shape (n,)
        Given and clean labels.

    Returns
    -------
    covered : float
    vote_accuracy : float
        Accuracy of ``argmax_c sum_{s in S, y_s = c} sim(x, s)`` over covered examples.
    """
    n = labels.shape[0]
    classes = int(max(labels.max(), clean.max())) + 1
    onehot = np.zeros((n, classes))
    onehot[idx, labels[idx]] = 1.0
    votes = adj @ onehot
    has = votes.sum(axis=1) > 0
    return float(has.mean()), float((votes.argmax(axis=1)[has] == clean[has]).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--tau", type=float, default=0.975)
    ap.add_argument("--eta", type=float, default=1.0)
    ap.add_argument("--full", action="store_true", help="also run the full objective (slower)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="JSON file for the numbers")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = Path(args.data)
    sig = np.load(data / "cifar10n_worst_signals_smallcnn.npz")
    clean = np.load(data / "cifar10n_labels.npz")["clean_label"].astype(np.int64)
    labels = sig["labels"].astype(np.int64)
    probs = sig["probs"].astype(np.float64)
    n = labels.shape[0]
    noisy = labels != clean
    pred = probs.argmax(axis=1)
    out: dict = {"n": n, "noise": float(noisy.mean()), "tau": args.tau, "eta": args.eta}

    t = time.perf_counter()
    graph = exact_graph(sig["embeddings"], args.tau)
    adj = graph.to_scipy().astype(np.float64)
    deg = graph.degrees()
    out["graph"] = {"edges": graph.nnz, "mean_degree": float(deg.mean()), "seconds": time.perf_counter() - t}
    print(f"n={n} noise={noisy.mean():.3f} mean degree {deg.mean():.1f} "
          f"(graph {out['graph']['seconds']:.0f}s)", flush=True)
    print(f"prediction == given: {np.mean(pred == labels):.3f}; noise where it agrees "
          f"{noisy[pred == labels].mean():.3f}, where it disagrees {noisy[pred != labels].mean():.3f}")

    edges = np.quantile(deg, [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])
    out["degree_bins"] = []
    for i, (lo, hi) in enumerate(itertools.pairwise(edges)):
        m = (deg >= lo) & ((deg < hi) if i < len(edges) - 2 else (deg <= hi))
        row = {"degree": [int(lo), int(hi)], "count": int(m.sum()), "noise": float(noisy[m].mean()),
               "pred_agrees_given": float(np.mean(pred[m] == labels[m])),
               "max_prob": float(probs[m].max(1).mean())}
        out["degree_bins"].append(row)
        print(f"degree [{lo:4.0f},{hi:4.0f}] n={m.sum():5d} noise {row['noise']:.3f} "
              f"pred==given {row['pred_agrees_given']:.3f} max_prob {row['max_prob']:.3f}")

    py = given_label_probability(probs, labels)
    order = np.lexsort((np.arange(n), -py))
    permuted = CSRGraph.from_scipy(adj[order][:, order], args.tau, symmetric=True)
    rows = {"index": GraphRows(graph), "given_prob": GraphRows(permuted)}
    perms = {"index": np.arange(n), "given_prob": order}
    confs = {
        "max_prob (published)": ("index", probs.max(axis=1)),
        "p(given label)": ("index", py),
        "max_prob * [pred == given]": ("index", agreement_confidence(probs, labels)),
        "max_prob * [pred == given], ties by p(given) = prune4rel_agree": (
            "given_prob", agreement_confidence(probs, labels)),
    }
    objectives = ("published", "full") if args.full else ("published",)
    out["greedy"] = []
    for objective in objectives:
        for name, (fill, conf) in confs.items():
            perm = perms[fill]
            t = time.perf_counter()
            row: dict = {"objective": objective, "confidence": name, "fractions": {}}
            for f in FRACTIONS:
                res = lazy_greedy(rows[fill], conf[perm], labels[perm], round(f * n), eta=args.eta,
                                  objective=objective)
                idx = perm[res.indices]
                cov, acc = vote_proxy(adj, idx, labels, clean)
                row["fractions"][str(f)] = {"noise": float(noisy[idx].mean()), "covered": cov,
                                            "vote_acc": acc}
                if f == 0.4:
                    fifths = np.array_split(idx, 5)
                    row["fifths_0.4"] = {"noise": [float(noisy[p].mean()) for p in fifths],
                                         "median_degree": [float(np.median(deg[p])) for p in fifths]}
            row["seconds"] = time.perf_counter() - t
            out["greedy"].append(row)
            cells = " ".join(f"{v['noise']:.3f}/{v['covered']:.2f}/{v['vote_acc']:.3f}"
                             for v in row["fractions"].values())
            print(f"{objective:9s} {name:62s} noise/covered/vote {cells}", flush=True)
            print(f"{'':9s} 0.4 subset by fifths in pick order: noise "
                  f"{[round(v, 3) for v in row['fifths_0.4']['noise']]} median degree "
                  f"{row['fifths_0.4']['median_degree']}", flush=True)

    small = np.argsort(sig["losses"].astype(np.float64).mean(axis=0), kind="stable")
    rng = np.random.default_rng(0)
    out["baselines"] = {}
    for name, pick in (("small_loss (mean loss history)", lambda k: small[:k]),
                       ("uniform (seed 0)", lambda k: rng.choice(n, size=k, replace=False))):
        out["baselines"][name] = {}
        cells = []
        for f in FRACTIONS:
            idx = pick(round(f * n))
            cov, acc = vote_proxy(adj, idx, labels, clean)
            out["baselines"][name][str(f)] = {"noise": float(noisy[idx].mean()), "covered": cov,
                                              "vote_acc": acc}
            cells.append(f"{noisy[idx].mean():.3f}/{cov:.2f}/{acc:.3f}")
        print(f"{'baseline':9s} {name:62s} noise/covered/vote {' '.join(cells)}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
