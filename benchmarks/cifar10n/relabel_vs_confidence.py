"""Prune4ReL's key observation on a finished run: neighbourhood confidence before training
vs. whether the trained learner re-labels the example correctly.

For every ``subset_<method>_<fraction>.npy`` of a run directory made by ``grid.py``:

* ``N(x; S)`` for each selected ``x``, from the warm-up ``signals.npz`` (before training):
  ``sum_{s in S, sim(x, s) > tau} sim(x, s) * conf(s)`` with the published confidence
  (``--confidence max_prob``) or the label-agreement one of ``prune4rel_agree``
  (``--confidence agree``);
* whether the trained learner's corrected label of ``x`` equals its clean label, from
  ``relabel_<digest>.npy`` (saved by ``grid.py``; the digest is the one in the subset's
  ``.json``). A plain ``prune4rel run`` directory does not store per-example corrected
  labels (only the aggregate ``relabel_acc`` of ``result_*.json``): run it through
  ``grid.py``, or the subset is reported as missing.

Prints the AUROC of ``N`` for "re-labeled correctly" and the re-labeling accuracy per
quantile bin of ``N``; writes them as JSON (``--out``) and a binned plot (``--plot``). For CE,
which does not re-label, "re-labeled correctly" is "given label is clean".

    .venv/bin/python benchmarks/cifar10n/relabel_vs_confidence.py runs/grid_cpu/worst_sopplus_seed0 \\
        --out relabel.json --plot relabel.png
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata

from prune4rel.neighbors import exact_graph
from prune4rel.selection.prune4rel_selector import confidence_scores
from prune4rel.selection.prune4rel_variants import agreement_confidence
from prune4rel.signals import Signals

_SUBSET = re.compile(r"subset_(?P<method>.+)_(?P<fraction>[0-9.]+)\.npy$")


def auroc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """Area under the ROC curve of ``scores`` for ``positive`` (ties count half).

    Parameters
    ----------
    scores : ndarray of float, shape (m,)
    positive : ndarray of bool, shape (m,)

    Returns
    -------
    float or None
        None when one class is empty.
    """
    pos = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(scores)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def binned(scores: np.ndarray, positive: np.ndarray, bins: int) -> list[dict[str, float]]:
    """Mean of ``positive`` in quantile bins of ``scores`` (equal counts, ties kept together)."""
    order = np.argsort(scores, kind="stable")
    out = []
    for part in np.array_split(order, bins):
        if part.size:
            out.append({"n_lo": float(scores[part].min()), "n_hi": float(scores[part].max()),
                        "count": int(part.size), "relabel_acc": float(positive[part].mean())})
    return out


def analyse(run_dir: Path, confidence: str, tau: float, bins: int) -> list[dict[str, Any]]:
    """One record per subset of ``run_dir`` (see the module docstring)."""
    signals = Signals.load(run_dir / "signals.npz")
    if signals.clean_labels is None:
        raise ValueError(f"{run_dir / 'signals.npz'} holds no clean labels: nothing to score against")
    clean = signals.clean_labels
    if confidence == "agree":
        conf = agreement_confidence(signals.probs, signals.labels)
    else:
        conf = confidence_scores(signals.probs, confidence)
    adj = exact_graph(signals.embeddings, tau).to_scipy().astype(np.float64)
    records = []
    for path in sorted(run_dir.glob("subset_*.npy")):
        match = _SUBSET.search(path.name)
        if match is None or match["method"] == "full":
            continue
        meta = json.loads(path.with_suffix(".json").read_text())
        relabel_path = run_dir / f"relabel_{meta['indices']}.npy"
        rec: dict[str, Any] = {"run_dir": str(run_dir), "method": match["method"],
                               "fraction": float(match["fraction"])}
        if not relabel_path.is_file():
            rec["missing"] = relabel_path.name
            records.append(rec)
            continue
        subset = np.load(path)
        corrected = np.load(relabel_path)
        weights = np.zeros(signals.n)
        weights[subset] = conf[subset]
        nbr = (adj @ weights)[subset]
        ok = corrected[subset] == clean[subset]
        rec.update({
            "subset_size": int(subset.size),
            "relabel_acc": float(ok.mean()),
            "given_label_clean": float(np.mean(signals.labels[subset] == clean[subset])),
            "auroc": auroc(nbr, ok),
            "bins": binned(nbr, ok, bins),
        })
        records.append(rec)
    return records


def plot(records: list[dict[str, Any]], path: Path, confidence: str) -> None:
    """Re-labeling accuracy vs. the mean ``N`` of each bin, one line per subset, as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for rec in records:
        if "bins" not in rec:
            continue
        x = [(b["n_lo"] + b["n_hi"]) / 2 for b in rec["bins"]]
        y = [100 * b["relabel_acc"] for b in rec["bins"]]
        auc = rec["auroc"]
        label = f"{rec['method']} {rec['fraction']:g}" + (f" (AUROC {auc:.2f})" if auc is not None else "")
        ax.plot(x, y, marker="o", label=label)
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlabel(f"neighbourhood confidence N(x; S) before training (conf = {confidence})")
    ax.set_ylabel("re-labeled correctly after training (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.savefig(path, format="png", dpi=120)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="neighbourhood confidence vs. re-labeling correctness")
    ap.add_argument("runs", nargs="+", type=Path, help="run directories made by grid.py")
    ap.add_argument("--confidence", choices=("max_prob", "margin", "agree"), default="max_prob")
    ap.add_argument("--tau", type=float, default=0.975)
    ap.add_argument("--bins", type=int, default=8)
    ap.add_argument("--out", type=Path, default=None, help="JSON file")
    ap.add_argument("--plot", type=Path, default=None, help="PNG file")
    args = ap.parse_args(argv)
    records: list[dict[str, Any]] = []
    for run in args.runs:
        records += analyse(run, args.confidence, args.tau, args.bins)
    for rec in records:
        head = f"{rec['run_dir']} {rec['method']:16s} {rec['fraction']:.2f}"
        if "missing" in rec:
            print(f"{head} no per-example corrected labels ({rec['missing']} missing)")
            continue
        auc = "n/a" if rec["auroc"] is None else f"{rec['auroc']:.3f}"
        bins = " ".join(f"{100 * b['relabel_acc']:.0f}" for b in rec["bins"])
        print(f"{head} relabel_acc {rec['relabel_acc']:.3f} (given clean {rec['given_label_clean']:.3f}) "
              f"AUROC {auc}; relabel % by N-bin (low->high): {bins}")
    if args.out:
        args.out.write_text(json.dumps({"confidence": args.confidence, "tau": args.tau, "records": records},
                                       indent=1))
    if args.plot:
        plot(records, args.plot, args.confidence)


if __name__ == "__main__":
    main()
