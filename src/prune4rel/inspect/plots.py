"""The figures of ``prune4rel inspect``, drawn on matplotlib's Agg canvas (no pyplot, no global
backend change) and written atomically as PNG."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from prune4rel._io import atomic_path
from prune4rel.inspect.summary import binned_accuracy
from prune4rel.inspect.table import Table

__all__ = ["plot_confidence", "plot_degree", "plot_relabel_vs_neighborhood"]


def _figure(panels: int, height: float = 3.6) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2 * panels, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, panels, squeeze=False)[0]


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    dest = Path(path)
    with atomic_path(dest, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return dest


def plot_confidence(table: Table, path: str | os.PathLike[str]) -> Path:
    """Histograms of the warm-up confidence (largest probability): examples whose prediction
    agrees with the given label against those where it does not; with clean labels, a second
    panel splits by whether the given label is right."""
    clean = "label_is_wrong" in table
    fig, axes = _figure(2 if clean else 1)
    bins = np.linspace(0.0, 1.0, 41)
    conf, agrees = table["confidence"], table["agrees"]
    splits = [("prediction vs. given label", agrees, "agrees", "disagrees")]
    if clean:
        right = ~table["label_is_wrong"]
        splits.append(("given label vs. clean label", right, "given label right", "given label wrong"))
    for ax, (title, mask, yes, no) in zip(axes, splits):
        ax.hist(conf[mask], bins=bins, alpha=0.6, label=f"{yes} ({mask.mean():.1%})")
        ax.hist(conf[~mask], bins=bins, alpha=0.6, label=f"{no} ({1 - mask.mean():.1%})")
        ax.set_xlabel("confidence (largest probability)")
        ax.set_ylabel("examples")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_degree(table: Table, tau: float, path: str | os.PathLike[str]) -> Path:
    """Histogram of ``1 + tau-degree`` (the example and its neighbours) on a log axis; with
    clean labels, the share of wrong given labels per bin on a second axis.

    Bins are log-spaced and hold whole degrees; a bar's height is its count divided by its
    width in decades, so that narrow bins (one degree value) and wide ones compare.
    """
    fig, axes = _figure(1)
    ax = axes[0]
    size = table["degree"] + 1
    edges = np.unique(np.geomspace(1, size.max() + 1, 40).round()) - 0.5  # whole sizes per bin
    edges[0] = 0.5
    counts, _ = np.histogram(size, bins=edges)
    ax.stairs(counts / np.diff(np.log10(edges)), edges, fill=True, color="C0", alpha=0.7)
    ax.set_xscale("log")
    ax.set_xlabel(f"1 + tau-degree (neighbours with similarity > {tau:g}, and itself)")
    ax.set_ylabel("examples per decade")
    degree = table["degree"]
    ax.set_title(f"tau-degree: mean {degree.mean():.1f}, median {np.median(degree):.0f}, "
                 f"{np.mean(degree == 0):.1%} with none", fontsize=9)
    ax.grid(alpha=0.3)
    if "label_is_wrong" in table:
        which = np.searchsorted(edges, size, side="right") - 1
        wrong = table["label_is_wrong"]
        centers, rates = [], []
        for b in np.unique(which):
            members = which == b
            if members.sum() >= 20:  # no rate from a handful of examples
                centers.append(float(np.median(size[members])))
                rates.append(float(wrong[members].mean()))
        twin = ax.twinx()
        twin.plot(centers, rates, color="C3", marker="o", ms=3)
        twin.set_ylabel("share of wrong given labels", color="C3")
        twin.set_ylim(0, 1)
    return _save(fig, path)


def plot_relabel_vs_neighborhood(table: Table, methods: list[str], path: str | os.PathLike[str]) -> Path:
    """Re-labeling correctness against neighbourhood confidence (the paper's central figure).

    Proxy of re-labeling correctness: the warm-up prediction equals the clean label. One line
    per method: examples binned by ``N(x; S)`` for that method's selection ``S`` (first point:
    ``N = 0``, then equal-count bins), the share predicted correctly per bin at the bin's
    median N. Needs clean labels in the table.
    """
    if "clean_label" not in table:
        raise ValueError("the re-labeling figure needs clean labels in the Signals")
    fig, axes = _figure(1, height=4.0)
    ax = axes[0]
    correct = table["predicted_label"] == table["clean_label"]
    top = 1.0
    for method in methods:
        nbr_conf = table[f"nbr_conf_{method}"]
        rows = binned_accuracy(nbr_conf, correct)
        uncovered = int(np.sum(nbr_conf <= 0))
        ax.plot([r["median"] for r in rows], [r["accuracy"] for r in rows], marker="o", ms=4,
                label=f"{method} ({uncovered} at N = 0)")
        top = max(top, float(nbr_conf.max()))
    ax.axhline(correct.mean(), color="0.5", linestyle="--", label=f"all examples ({correct.mean():.1%})")
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlim(0, top * 1.5)
    ax.set_xlabel("neighbourhood confidence N(x; S) (bin median; first point N = 0)")
    ax.set_ylabel("warm-up prediction = clean label")
    ax.set_ylim(0, 1)
    ax.set_title("re-labeling correctness (proxy) vs. neighbourhood confidence", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
