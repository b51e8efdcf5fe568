"""What differs between the subsets of ``small_loss`` and ``prune4rel_agree`` (selection only).

On the shared CIFAR-10N worst warm-up signals (``cifar10n_worst_signals_smallcnn.npz``: a small
CNN's 8-epoch cross-entropy warm-up, 50,000 examples, 40.2% wrong given labels), every selector
of :data:`METHODS` picks a subset at each fraction of :data:`FRACTIONS` with the library's
default parameters (``get_selector(method).select(signals, fraction)``; the two Prune4ReL
selectors build their own tau-graph each time). The clean labels are read for evaluation only.
For each subset the script measures:

* **subset noise**: share of selected examples whose given label is wrong;
* **class coverage**: selected counts per clean class and per given class, each class's kept
  share (selected / class size), and their spread (coefficient of variation of the counts,
  smallest and largest kept share);
* **tau-degree of the selected examples**: neighbours besides itself on the exact graph at
  ``tau`` (0.975, the library default; built once with
  :func:`prune4rel.neighbors.exact_graph`): quantiles, the share with no neighbour at all, and
  the share of the subset in each degree quintile of the whole training set;
* **neighbourhood coverage, leave-self-out**: the signals hold no test embeddings, so the
  training set stands in for the test distribution. For every training example ``x`` the
  neighbourhood is its tau-neighbours *other than itself*, so a selected example does not
  cover itself and every example is scored like an unseen image from the same distribution.
  Reported over all 50,000 examples and split by whether ``x``'s given label is clean:
  ``covered`` (at least one selected neighbour), ``N >= level`` for the levels of
  :data:`LEVELS`, with ``N(x; S) = sum_{s in S, s != x, sim > tau} sim(x, s) max_prob(s)``
  (the paper's neighbourhood confidence, the same weighting for every method), and
  ``vote_right``: share of examples whose selected neighbours' given labels, weighted by
  similarity, vote for ``x``'s clean label (uncovered examples count as wrong);
* **where the two subsets differ**: size, noise, median degree and clean-class counts of
  ``prune4rel_agree \\ small_loss`` and ``small_loss \\ prune4rel_agree``.

Command (7 min 0 s on one core of the 2-core machine while other jobs ran: the analysis graph
114 s, each Prune4ReL selection, which builds its own graph, 28-60 s; an earlier run took
5 min 31 s with a 10 s graph)::

    PYTHONPATH=src .venv/bin/python benchmarks/cifar10n/why_agree.py --data ../shared/data \\
        --out benchmarks/cifar10n/why_agree.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from prune4rel.neighbors import exact_graph
from prune4rel.selection import get_selector
from prune4rel.signals import Signals

METHODS = ("small_loss", "prune4rel_agree", "prune4rel", "uniform")
FRACTIONS = (0.2, 0.4, 0.6, 0.8)
#: levels of the leave-self-out neighbourhood confidence N(x; S)
LEVELS = (1.0, 5.0)
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SIGNALS_FILE = "cifar10n_worst_signals_smallcnn.npz"


def load_signals(data: Path) -> Signals:
    """The shared worst-label warm-up signals with the CIFAR-10N clean labels attached.

    Parameters
    ----------
    data : Path
        Folder with the signals file and ``cifar10n_labels.npz``.

    Returns
    -------
    Signals
    """
    raw = np.load(data / SIGNALS_FILE)
    clean = np.load(data / "cifar10n_labels.npz")["clean_label"].astype(np.int64)
    return Signals(labels=raw["labels"].astype(np.int64), probs=raw["probs"],
                   embeddings=raw["embeddings"], losses=raw["losses"], correct=raw["correct"],
                   clean_labels=clean)


def class_coverage(idx: np.ndarray, labels: np.ndarray, clean: np.ndarray,
                   num_classes: int) -> dict[str, Any]:
    """Selected counts per clean and per given class, kept shares and their spread.

    Parameters
    ----------
    idx : ndarray of int
        The subset.
    labels, clean : ndarray of int, shape (n,)
        Given and clean labels.
    num_classes : int

    Returns
    -------
    dict
        For ``clean`` and ``given``: ``counts``, ``kept_share`` (count / class size),
        ``cv`` (std / mean of the counts), ``kept_min`` and ``kept_max``.
    """
    out: dict[str, Any] = {}
    for name, y in (("clean", clean), ("given", labels)):
        counts = np.bincount(y[idx], minlength=num_classes)
        kept = counts / np.bincount(y, minlength=num_classes)
        out[name] = {"counts": counts.tolist(), "kept_share": np.round(kept, 4).tolist(),
                     "cv": float(counts.std() / counts.mean()), "kept_min": float(kept.min()),
                     "kept_max": float(kept.max())}
    return out


def degree_profile(deg_sel: np.ndarray, quintile_edges: np.ndarray) -> dict[str, Any]:
    """Distribution of the selected examples' tau-degrees (neighbours besides themselves).

    Parameters
    ----------
    deg_sel : ndarray of int
        Degrees of the selected examples.
    quintile_edges : ndarray, shape (4,)
        The 20/40/60/80% degree quantiles of the whole training set.

    Returns
    -------
    dict
        ``mean``, ``quantiles`` (10/25/50/75/90%), ``isolated`` (share with degree 0) and
        ``by_population_quintile`` (share of the subset in each population degree quintile).
    """
    bins = np.searchsorted(quintile_edges, deg_sel, side="right")
    return {"mean": float(deg_sel.mean()),
            "quantiles": np.quantile(deg_sel, [0.1, 0.25, 0.5, 0.75, 0.9]).tolist(),
            "isolated": float(np.mean(deg_sel == 0)),
            "by_population_quintile": np.round(np.bincount(bins, minlength=5) / deg_sel.size, 4).tolist()}


def neighbourhood_coverage(adj: sp.csr_matrix, idx: np.ndarray, conf: np.ndarray, labels: np.ndarray,
                           clean: np.ndarray, num_classes: int) -> dict[str, Any]:
    """Leave-self-out coverage of every training example by the subset's neighbours.

    Parameters
    ----------
    adj : scipy.sparse.csr_matrix, shape (n, n)
        Similarities of the tau-graph without self-loops.
    idx : ndarray of int
        The subset ``S``.
    conf : ndarray, shape (n,)
        Confidence weighting ``N(x; S)`` (the same for every method).
    labels, clean : ndarray of int, shape (n,)
        Given and clean labels.
    num_classes : int

    Returns
    -------
    dict
        For ``all``, ``clean_given`` and ``noisy_given`` examples: ``covered``,
        ``N>=<level>`` for each of :data:`LEVELS` and ``vote_right``.
    """
    n = labels.shape[0]
    member = np.zeros(n)
    member[idx] = 1.0
    weights = np.zeros(n)
    weights[idx] = conf[idx]
    covered = adj @ member > 0
    nbr_conf = adj @ weights
    onehot = np.zeros((n, num_classes))
    onehot[idx, labels[idx]] = 1.0
    votes = adj @ onehot
    vote_right = covered & (votes.argmax(axis=1) == clean)
    out: dict[str, Any] = {}
    for name, mask in (("all", np.ones(n, bool)), ("clean_given", labels == clean),
                       ("noisy_given", labels != clean)):
        row = {"covered": float(covered[mask].mean())}
        row.update({f"N>={level:g}": float(np.mean(nbr_conf[mask] >= level)) for level in LEVELS})
        row["vote_right"] = float(vote_right[mask].mean())
        out[name] = row
    return out


def difference(a: np.ndarray, b: np.ndarray, noisy: np.ndarray, deg: np.ndarray, clean: np.ndarray,
               num_classes: int) -> dict[str, Any]:
    """The examples of subset ``a`` that are not in subset ``b``.

    Parameters
    ----------
    a, b : ndarray of int
        Subsets.
    noisy : ndarray of bool, shape (n,)
        Whether each given label is wrong.
    deg : ndarray of int, shape (n,)
        Tau-degrees (besides itself).
    clean : ndarray of int, shape (n,)
    num_classes : int

    Returns
    -------
    dict
        ``size``, ``noise``, ``median_degree`` and ``clean_counts`` of ``a \\ b``.
    """
    only = np.setdiff1d(a, b)
    if only.size == 0:
        return {"size": 0}
    return {"size": int(only.size), "noise": float(noisy[only].mean()),
            "median_degree": float(np.median(deg[only])),
            "clean_counts": np.bincount(clean[only], minlength=num_classes).tolist()}


def summary(row: dict[str, Any]) -> str:
    """One line of a subset's measurements (the JSON holds all of them)."""
    cls, degree, cov = row["classes"]["clean"], row["degree"], row["coverage"]
    return (f"noise {row['noise']:.3f} | clean classes cv {cls['cv']:.2f} kept {cls['kept_min']:.2f}-"
            f"{cls['kept_max']:.2f} | degree median {degree['quantiles'][2]:.0f} isolated "
            f"{degree['isolated']:.3f} by quintile {degree['by_population_quintile']} | covered "
            f"{cov['all']['covered']:.3f} (clean {cov['clean_given']['covered']:.3f}, noisy "
            f"{cov['noisy_given']['covered']:.3f}) N>=1 {cov['all']['N>=1']:.3f} vote_right "
            f"{cov['all']['vote_right']:.3f} (noisy {cov['noisy_given']['vote_right']:.3f})")


def main(argv: list[str] | None = None) -> None:
    """Run every selection, measure the subsets, print a summary and write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--tau", type=float, default=0.975, help="tau of the analysis graph")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="JSON file for the numbers")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    signals = load_signals(Path(args.data))
    assert signals.clean_labels is not None
    labels, clean, probs = signals.labels, signals.clean_labels, signals.probs
    n, num_classes = probs.shape
    noisy = labels != clean
    agrees = probs.argmax(axis=1) == labels

    t = time.perf_counter()
    graph = exact_graph(signals.embeddings, args.tau)
    adj = graph.to_scipy().astype(np.float64)
    adj = (adj - sp.diags(adj.diagonal())).tocsr()  # leave-self-out: no self-loops
    adj.eliminate_zeros()
    deg = np.diff(adj.indptr)
    graph_s = time.perf_counter() - t
    edges = np.quantile(deg, [0.2, 0.4, 0.6, 0.8])
    out: dict[str, Any] = {
        "signals": SIGNALS_FILE, "n": n, "noise": float(noisy.mean()),
        "pred_agrees_given": float(agrees.mean()), "tau": args.tau, "levels": list(LEVELS),
        "classes": list(CLASSES),
        "graph": {"seconds": round(graph_s, 1), "mean_degree": float(deg.mean()),
                  "median_degree": float(np.median(deg)), "isolated": float(np.mean(deg == 0)),
                  "degree_quintile_edges": edges.tolist(),
                  "population_by_quintile": np.round(
                      np.bincount(np.searchsorted(edges, deg, side="right"), minlength=5) / n, 4).tolist()},
        "population": class_coverage(np.arange(n), labels, clean, num_classes),
        "methods": {},
    }
    print(f"n={n} noise {noisy.mean():.3f} pred==given {agrees.mean():.3f} mean degree {deg.mean():.1f} "
          f"(besides itself; graph {graph_s:.0f}s)", flush=True)
    conf = probs.max(axis=1).astype(np.float64)
    subsets: dict[tuple[str, float], np.ndarray] = {}
    for method in METHODS:
        out["methods"][method] = {}
        for f in FRACTIONS:
            sel = get_selector(method).select(signals, f)
            idx = np.asarray(sel.indices, dtype=np.int64)
            subsets[method, f] = idx
            row = {"size": int(idx.size), "select_s": round(sel.seconds, 2),
                   "noise": float(noisy[idx].mean()), "pred_agrees_given": float(agrees[idx].mean()),
                   "classes": class_coverage(idx, labels, clean, num_classes),
                   "degree": degree_profile(deg[idx], edges),
                   "coverage": neighbourhood_coverage(adj, idx, conf, labels, clean, num_classes)}
            out["methods"][method][str(f)] = row
            print(f"{method:16s} {f:.1f} {summary(row)} [{sel.seconds:.0f}s]", flush=True)
    out["differences"] = {}
    for f in FRACTIONS:
        a, b = subsets["prune4rel_agree", f], subsets["small_loss", f]
        out["differences"][str(f)] = {
            "overlap": float(np.intersect1d(a, b).size / a.size),
            "agree_only": difference(a, b, noisy, deg, clean, num_classes),
            "small_loss_only": difference(b, a, noisy, deg, clean, num_classes),
        }
        d = out["differences"][str(f)]
        print(f"{f:.1f}: {d['overlap']:.3f} of prune4rel_agree's subset is in small_loss's; "
              f"agree only {d['agree_only']}; small_loss only {d['small_loss_only']}", flush=True)
    out["seconds"] = round(time.perf_counter() - start, 1)
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))
        print(f"wrote {args.out} ({out['seconds']:.0f}s)")


if __name__ == "__main__":
    main()
