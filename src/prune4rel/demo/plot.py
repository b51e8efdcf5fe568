"""The demo's figure: test accuracy vs. kept fraction, and the paired difference to the baseline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from prune4rel._io import atomic_path
from prune4rel.demo.experiment import FULL
from prune4rel.demo.summary import Cell

__all__ = ["plot_demo"]

#: Horizontal offset between the methods' points at one fraction.
_DODGE = 0.006


def plot_demo(cells: Sequence[Cell], path: str | Path, title: str, baseline: str) -> Path:
    """Write a two-panel PNG: accuracy per method (error bars: std over seeds) and the paired
    difference to ``baseline`` (error bars: the 95% t-interval).

    Uses matplotlib's Agg canvas directly (no pyplot, no global backend change); the file is
    written atomically.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11.0, 4.4), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    methods = list(dict.fromkeys(c.method for c in cells if c.method != FULL))
    n = max(c.n for c in cells)
    for i, method in enumerate(methods):
        mine = [c for c in cells if c.method == method]
        color = f"C{i}"
        shift = _DODGE * (i - (len(methods) - 1) / 2)  # side by side, so the bars do not hide each other
        left.errorbar([c.fraction + shift for c in mine], [100 * c.test_acc[0] for c in mine],
                      yerr=[100 * c.test_acc[1] for c in mine], marker="o", capsize=3, color=color,
                      label=method)
        paired = [(c.fraction, c.paired) for c in mine if c.paired is not None and c.paired["ci"] is not None]
        if paired:
            means = [100 * p["mean"] for _, p in paired]
            errors = [[m - 100 * p["ci"][0] for m, (_, p) in zip(means, paired)],
                      [100 * p["ci"][1] - m for m, (_, p) in zip(means, paired)]]
            right.errorbar([f + shift for f, _ in paired], means, yerr=errors, marker="o", capsize=3,
                           color=color, label=method)
    for cell in cells:
        if cell.method == FULL:
            left.axhline(100 * cell.test_acc[0], color="0.4", linestyle="--",
                         label=f"all data ({100 * cell.test_acc[0]:.1f}%)")
    right.axhline(0.0, color=f"C{methods.index(baseline)}" if baseline in methods else "0.4", linewidth=1,
                  label=baseline)
    left.set_ylabel("test accuracy after the last epoch (%)")
    left.set_title(f"mean ± std over {n} seeds", fontsize=9)
    right.set_ylabel(f"test accuracy minus {baseline} (points)")
    right.set_title("paired by seed: mean and 95% t-interval", fontsize=9)
    for ax in (left, right):
        ax.set_xlabel("fraction of the training set kept")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    dest = Path(path)
    with atomic_path(dest, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    return dest
