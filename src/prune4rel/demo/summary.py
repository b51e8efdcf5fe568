"""The demo's statistics, tables and verdict, computed from its per-run results.

Per (method, fraction): mean ± sample std over seeds of the test accuracy, the subset's
noise rate and the learner's re-labeling accuracy on it; and the test accuracy minus the
baseline's, paired by seed (:func:`prune4rel.report.paired_differences`: mean, 95% Student-t
interval, wins/ties/losses). A method is *ahead* of the baseline at a fraction when that
interval lies above 0, *behind* when it lies below 0, and *level* otherwise (the seeds do not
tell the two apart). The verdict is built from these words and from the paired lead of the
most accurate method over the runner-up, never from the means alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from prune4rel.demo.experiment import FULL
from prune4rel.report import paired_differences

__all__ = ["Cell", "Lead", "format_markdown_table", "format_table", "leads", "summarize", "verdict"]

_METRIC = "test_acc_last"


@dataclass(frozen=True)
class Cell:
    """One (method, fraction) of the grid, over its seeds.

    Attributes
    ----------
    method : str
    fraction : float
    n : int
        Seeds.
    size : int
        Subset size (of the first seed; every seed keeps the same count).
    test_acc, subset_noise, relabel_acc : (float, float)
        Mean and sample std (0 for one seed), as fractions.
    paired : dict or None
        The :func:`~prune4rel.report.paired_differences` row against the baseline (None for
        the baseline itself and the all-data reference).
    """

    method: str
    fraction: float
    n: int
    size: int
    test_acc: tuple[float, float]
    subset_noise: tuple[float, float]
    relabel_acc: tuple[float, float]
    paired: dict[str, Any] | None

    @property
    def status(self) -> str:
        """"ahead", "behind" or "level" against the baseline; "" without a paired row."""
        if self.paired is None:
            return ""
        return status(self.paired)


@dataclass(frozen=True)
class Lead:
    """The most accurate method at one fraction and its paired lead over the runner-up."""

    fraction: float
    best: str
    runner_up: str
    paired: dict[str, Any]


def status(paired: dict[str, Any]) -> str:
    """"ahead" / "behind" when the paired interval excludes 0 on that side, else "level"."""
    ci = paired["ci"]
    if ci is not None and ci[0] > 0:
        return "ahead"
    if ci is not None and ci[1] < 0:
        return "behind"
    return "level"


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def _methods(results: Sequence[dict[str, Any]]) -> list[str]:
    """Methods in first-seen order, the all-data reference last."""
    seen = list(dict.fromkeys(str(r["method"]) for r in results))
    return [m for m in seen if m != FULL] + [m for m in seen if m == FULL]


def summarize(results: Sequence[dict[str, Any]], baseline: str) -> list[Cell]:
    """One :class:`Cell` per (method, fraction), methods in first-seen order.

    Raises
    ------
    ValueError
        When no result is of method ``baseline``.
    """
    paired = {(r["method"], r["fraction"]): r for r in paired_differences(results, baseline, _METRIC)}
    cells = []
    for method in _methods(results):
        for fraction in sorted({float(r["fraction"]) for r in results if r["method"] == method}):
            rows = [r for r in results if r["method"] == method and float(r["fraction"]) == fraction]
            cells.append(Cell(
                method=method, fraction=fraction, n=len(rows), size=int(rows[0]["size"]),
                test_acc=_mean_std([r[_METRIC] for r in rows]),
                subset_noise=_mean_std([r["subset_noise_rate"] for r in rows]),
                relabel_acc=_mean_std([r["relabel_acc"] for r in rows]),
                paired=paired.get((method, fraction)),
            ))
    return cells


def leads(results: Sequence[dict[str, Any]], cells: Sequence[Cell]) -> list[Lead]:
    """Per fraction with two or more methods: the best mean and its paired lead over the next."""
    out = []
    for fraction in sorted({c.fraction for c in cells if c.method != FULL}):
        ranked = sorted((c for c in cells if c.fraction == fraction and c.method != FULL),
                        key=lambda c: -c.test_acc[0])
        if len(ranked) < 2:
            continue
        best, second = ranked[0].method, ranked[1].method
        rows = paired_differences(results, second, _METRIC)
        row = next(r for r in rows if r["method"] == best and r["fraction"] == fraction)
        out.append(Lead(fraction=fraction, best=best, runner_up=second, paired=row))
    return out


def _points(x: float) -> str:
    return f"{100.0 * x:+.1f}"


def _difference(paired: dict[str, Any]) -> str:
    text = _points(paired["mean"])
    if paired["ci"] is not None:
        low, high = paired["ci"]
        text += f" [{_points(low)}, {_points(high)}]"
    return text


def _fractions(values: Sequence[float]) -> str:
    return ", ".join(f"{f:g}" for f in values)


def verdict(cells: Sequence[Cell], lead_rows: Sequence[Lead], baseline: str) -> str:
    """The verdict: each method against ``baseline``, then the most accurate per fraction.

    Returns
    -------
    str
        One line, starting with ``Verdict``.
    """
    n = max(c.n for c in cells)
    clauses = []
    for method in dict.fromkeys(c.method for c in cells if c.paired is not None):
        mine = [c for c in cells if c.method == method and c.paired is not None]
        by_status = {s: [c.fraction for c in mine if c.status == s] for s in ("ahead", "level", "behind")}
        others = "; ".join(f"{s} at {_fractions(f)}" for s, f in by_status.items() if f and s != "ahead")
        if len(by_status["ahead"]) == len(mine):
            clauses.append(f"{method} beats {baseline} at every fraction ({_fractions(by_status['ahead'])})")
        elif not by_status["ahead"]:
            clauses.append(f"{method} does NOT beat {baseline} ({others})")
        else:
            clauses.append(f"{method} beats {baseline} at {_fractions(by_status['ahead'])} only ({others})")
    best = []
    for lead in lead_rows:
        word = {"ahead": "clear", "level": "within seed noise", "behind": "behind"}[status(lead.paired)]
        best.append(f"at {lead.fraction:g} {lead.best}, {_difference(lead.paired)} points over "
                    f"{lead.runner_up} ({word})")
    what = "ahead / behind: the 95% interval of the paired difference excludes 0"
    return f"Verdict ({n} seeds; {what}): " + "; ".join(clauses) + ". Most accurate: " + "; ".join(best) + "."


_HEADERS = ("method", "keep", "size", "test acc %", "subset noise %", "re-label acc %",
            "test acc - {b}, points [95% CI]", "W/T/L", "vs {b}")


def _pct(pair: tuple[float, float], n: int) -> str:
    mean, std = pair
    return f"{100 * mean:.1f}" if n == 1 else f"{100 * mean:.1f} ± {100 * std:.1f}"


def _row(cell: Cell) -> list[str]:
    name = "all data" if cell.method == FULL else cell.method
    paired = ["", "", ""]
    if cell.paired is not None:
        p = cell.paired
        paired = [_difference(p), f"{p['wins']}/{p['ties']}/{p['losses']}", cell.status]
    return [name, f"{cell.fraction:g}", str(cell.size), _pct(cell.test_acc, cell.n),
            _pct(cell.subset_noise, cell.n), _pct(cell.relabel_acc, cell.n), *paired]


def _headers(baseline: str) -> list[str]:
    return [h.format(b=baseline) for h in _HEADERS]


def format_table(cells: Sequence[Cell], baseline: str) -> str:
    """The cells as an aligned plain-text table, one row per (method, fraction)."""
    rows = [_headers(baseline), *(_row(c) for c in cells)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEADERS))]
    lines = []
    for j, row in enumerate(rows):
        padded = [c.ljust(w) if i in (0, 8) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(padded).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_markdown_table(cells: Sequence[Cell], baseline: str) -> str:
    """The cells as a markdown table."""
    lines = ["| " + " | ".join(_headers(baseline)) + " |", "|---|" + "---:|" * 7 + "---|"]
    lines += ["| " + " | ".join(_row(c)) + " |" for c in cells]
    return "\n".join(lines)

