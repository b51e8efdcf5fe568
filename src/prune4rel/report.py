"""Tables and plots from the ``result_*.json`` files of experiment runs.

Results are grouped by *setting* (dataset, test set, learner, training epochs, training set
size): numbers from different settings are never averaged together. Within a setting, the
results of one (method, fraction) from several runs (seeds) are summarised as mean ± sample
standard deviation, and, against a chosen baseline method, as differences paired by seed
(:func:`paired_differences`): runs of one seed share the warm-up and the test images, so the
paired difference is far less noisy than the two means.
"""

from __future__ import annotations

import json
import math
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from prune4rel._io import atomic_path, atomic_write_text

__all__ = [
    "METRICS",
    "collect_results",
    "format_markdown",
    "paired_differences",
    "plot_format",
    "plot_results",
    "write_report",
]

_RESULT_FORMAT = "prune4rel.result"
_FULL = "full"
#: (result key, table title, as a percentage?)
METRICS: tuple[tuple[str, str, bool], ...] = (
    ("test_acc_best", "Test accuracy, best epoch (%)", True),
    ("test_acc_last", "Test accuracy, last epoch (%)", True),
    ("subset_noise_rate", "Noise rate of the selected subset (%)", True),
    ("relabel_acc", "Re-labeling accuracy on the subset (%)", True),
)
_SETTING_KEYS = ("dataset", "test_set", "learner", "epochs", "n_train")


def collect_results(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Read every ``result_*.json`` under the given run directories (recursively) or files.

    Parameters
    ----------
    paths : iterable of path
        Run directories, folders holding run directories, or result files.

    Returns
    -------
    list of dict
        Each result with ``_path`` (its file) added, in path order; a file reached twice is
        read once.

    Raises
    ------
    ValueError
        When a path does not exist, a path holds no result file, or a file is not a
        prune4rel result.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(path.rglob("result_*.json"))
            if not found:
                raise ValueError(f"{path} holds no result_*.json file (is it a run directory?)")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ValueError(f"run path not found: {path}")
    seen: set[Path] = set()
    results = []
    for file in files:
        key = file.resolve()
        if key in seen:
            continue
        seen.add(key)
        try:
            obj = json.loads(file.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read result file {file}: {exc}") from None
        if not isinstance(obj, dict) or obj.get("format") != _RESULT_FORMAT:
            raise ValueError(f"{file} is not a prune4rel result file (format {_RESULT_FORMAT!r})")
        missing = [k for k in ("method", "fraction", "test_acc_best", "test_acc_last") if k not in obj]
        if missing:
            raise ValueError(f"{file} lacks result key(s) {missing}")
        results.append({**obj, "_path": str(file)})
    return results


def _setting(result: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(result.get(k) for k in _SETTING_KEYS)


def _setting_title(setting: tuple[Any, ...], sep: str = " · ") -> str:
    dataset, test_set, learner, epochs, n_train = setting
    return f"{dataset}{sep}test set `{test_set}` · learner {learner}, {epochs} epochs · n_train {n_train}"


_Groups = dict[tuple[Any, ...], dict[tuple[str, float], list[dict[str, Any]]]]


def _grouped(results: Sequence[dict[str, Any]]) -> _Groups:
    groups: _Groups = defaultdict(lambda: defaultdict(list))
    for r in results:
        cell = groups[_setting(r)][(str(r["method"]), float(r["fraction"]))]
        if any(other.get("seed") == r.get("seed") for other in cell):
            warnings.warn(
                f"{r['_path']}: a second result for method {r['method']!r}, fraction {r['fraction']} and "
                f"seed {r.get('seed')} in the same setting; both enter the mean",
                UserWarning, stacklevel=3,
            )
        cell.append(r)
    return groups


def _stats(values: Sequence[float | None]) -> tuple[float, float, int] | None:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return None
    std = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
    return float(np.mean(vals)), std, len(vals)


def _cell(values: Sequence[float | None], percent: bool, full_n: int) -> str:
    st = _stats(values)
    if st is None:
        return "n/a"
    mean, std, n = st
    scale = 100.0 if percent else 1.0
    text = f"{mean * scale:.1f}"
    if n > 1:
        text += f" ± {std * scale:.1f}"
    if n != full_n:
        text += f" (n={n})"
    return text


def _method_order(methods: Iterable[str]) -> list[str]:
    return sorted(set(methods), key=lambda m: (m == _FULL, m))


def _by_seed(cell: Sequence[dict[str, Any]], metric: str) -> dict[Any, float]:
    """The metric per seed of one (method, fraction) cell (mean of a seed's repeats)."""
    values: dict[Any, list[float]] = defaultdict(list)
    for r in cell:
        v = r.get(metric)
        if v is not None and math.isfinite(float(v)):
            values[r.get("seed")].append(float(v))
    return {seed: float(np.mean(vs)) for seed, vs in values.items()}


def paired_differences(
    results: Sequence[dict[str, Any]], baseline: str, metric: str = "test_acc_best", level: float = 0.95
) -> list[dict[str, Any]]:
    """Every method minus ``baseline``, paired by seed, per setting and fraction.

    Parameters
    ----------
    results : sequence of dict
        From :func:`collect_results`.
    baseline : str
        The method subtracted (e.g. ``"uniform"``).
    metric : str, default "test_acc_best"
        Result key compared (accuracies are fractions in [0, 1]).
    level : float, default 0.95
        Confidence level of the Student-t interval of the mean difference, in (0, 1).

    Returns
    -------
    list of dict
        One per (setting, method, fraction) where the method and the baseline share at least
        one seed (the full-data reference is left out): ``setting`` (tuple of
        dataset, test set, learner, epochs, n_train), ``method``, ``fraction``, ``seeds``
        (the shared seeds), ``n``, ``mean`` and ``std`` (sample std; 0 for ``n = 1``) of the
        differences, ``ci`` (low, high) or None for ``n = 1``, and ``wins``, ``ties``,
        ``losses`` (seeds where the method is above, equal to, below the baseline). In the
        metric's units.

    Raises
    ------
    ValueError
        If no result is of method ``baseline``, or ``level`` is not in (0, 1).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"`level` must be in (0, 1), got {level!r}")
    if not any(r.get("method") == baseline for r in results):
        methods = sorted({str(r.get("method")) for r in results})
        raise ValueError(f"no results for baseline {baseline!r}; methods present: {methods}")
    rows: list[dict[str, Any]] = []
    groups = _grouped(results)
    for setting in sorted(groups, key=lambda s: tuple(str(x) for x in s)):
        cells = groups[setting]
        for method in _method_order(m for m, _ in cells):
            if method in (baseline, _FULL):
                continue
            for fraction in sorted(f for m, f in cells if m == method):
                if (baseline, fraction) not in cells:
                    continue
                ours = _by_seed(cells[(method, fraction)], metric)
                theirs = _by_seed(cells[(baseline, fraction)], metric)
                seeds = sorted(set(ours) & set(theirs), key=str)
                if not seeds:
                    continue
                diff = np.array([ours[s] - theirs[s] for s in seeds])
                n = diff.size
                mean = float(diff.mean())
                std = float(diff.std(ddof=1)) if n > 1 else 0.0
                ci = None
                if n > 1:
                    half = float(scipy_stats.t.ppf(0.5 + level / 2.0, n - 1)) * std / math.sqrt(n)
                    ci = (mean - half, mean + half)
                rows.append({
                    "setting": setting, "method": method, "fraction": fraction, "seeds": seeds, "n": n,
                    "mean": mean, "std": std, "ci": ci, "wins": int(np.sum(diff > 0)),
                    "ties": int(np.sum(diff == 0)), "losses": int(np.sum(diff < 0)),
                })
    return rows


def _paired_cell(row: dict[str, Any], full_n: int) -> str:
    text = f"{100.0 * row['mean']:+.1f}"
    if row["ci"] is not None:
        low, high = row["ci"]
        text += f" [{100.0 * low:+.1f}, {100.0 * high:+.1f}]"
    text += f" {row['wins']}/{row['ties']}/{row['losses']}"
    if row["n"] != full_n:
        text += f" (n={row['n']})"
    return text


def _paired_lines(rows: Sequence[dict[str, Any]], baseline: str) -> list[str]:
    """The paired-difference table of one setting's rows of :func:`paired_differences`."""
    if not rows:
        return []
    fractions = sorted({r["fraction"] for r in rows})
    full_n = max(r["n"] for r in rows)
    lines = [
        f"### Test accuracy (best epoch) minus `{baseline}`, paired by seed (points)",
        "",
        "Mean difference [95% t-interval] wins/ties/losses over the seeds both ran.",
        "",
        "| method | " + " | ".join(f"{f:.2f}" for f in fractions) + " |",
        "|---|" + "---:|" * len(fractions),
    ]
    table = {(r["method"], r["fraction"]): r for r in rows}
    for m in _method_order(r["method"] for r in rows):
        cells = [_paired_cell(table[(m, f)], full_n) if (m, f) in table else "" for f in fractions]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def format_markdown(results: Sequence[dict[str, Any]], paired_against: Sequence[str] = ()) -> str:
    """A markdown report: per setting, one method x fraction table per metric.

    Cells are ``mean ± std`` over seeds (sample std; just the value for one seed), with
    ``(n=k)`` when a cell has fewer runs than the setting's most complete cell. The
    full-data reference (method "full") appears in the 1.0 column. For each method in
    ``paired_against``, a further table gives every other method's test accuracy minus that
    method's, paired by seed (:func:`paired_differences`).

    Raises
    ------
    ValueError
        If ``results`` is empty or a ``paired_against`` method has no result.
    """
    if not results:
        raise ValueError("no results to report")
    paired = {baseline: paired_differences(results, baseline) for baseline in paired_against}
    groups = _grouped(results)
    lines = ["# prune4rel results", ""]
    runs = sorted({str(Path(r["_path"]).parent) for r in results})
    where = "1 run directory" if len(runs) == 1 else f"{len(runs)} run directories"
    lines += [f"{len(results)} result(s) from {where}.", ""]
    for setting in sorted(groups, key=lambda s: tuple(str(x) for x in s)):
        cells = groups[setting]
        seeds = sorted({r.get("seed") for rs in cells.values() for r in rs}, key=str)
        full_n = max(len(rs) for rs in cells.values())
        fractions = sorted({f for _, f in cells})
        methods = _method_order(m for m, _ in cells)
        lines += [f"## {_setting_title(setting)}", "", f"Seeds: {', '.join(str(s) for s in seeds)}.", ""]
        for key, title, percent in METRICS:
            lines += [f"### {title}", ""]
            lines.append("| method | " + " | ".join(f"{f:.2f}" for f in fractions) + " |")
            lines.append("|---|" + "---:|" * len(fractions))
            for m in methods:
                row = [
                    _cell([r.get(key) for r in cells[(m, f)]], percent, full_n) if (m, f) in cells else ""
                    for f in fractions
                ]
                lines.append(f"| {m} | " + " | ".join(row) + " |")
            lines.append("")
        for baseline in paired_against:
            lines += _paired_lines([r for r in paired[baseline] if r["setting"] == setting], baseline)
    return "\n".join(lines)


def plot_format(path: str | Path) -> str:
    """The image format of a plot written to ``path``: its suffix, when matplotlib can write it.

    Raises
    ------
    ValueError
        When the suffix is missing or names no format matplotlib's Agg canvas writes here
        (the message lists those that it does).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    allowed = sorted(FigureCanvasAgg(Figure()).get_supported_filetypes())
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in allowed:
        raise ValueError(
            f"plot {path}: the suffix gives the image format, and {Path(path).suffix or 'no suffix'!r} "
            f"is none that can be written here; use one of {', '.join('.' + f for f in allowed)}"
        )
    return fmt


def plot_results(results: Sequence[dict[str, Any]], path: str | Path, metric: str = "test_acc_best") -> Path:
    """Accuracy vs. fraction, one line per method, one panel per setting.

    Uses matplotlib's Agg canvas directly (no pyplot, no global backend change). Error bars
    are the standard deviation over seeds; the full-data reference is a dashed line.

    Parameters
    ----------
    results : sequence of dict
        From :func:`collect_results`.
    path : path
        Output image, written atomically, in the format of its suffix (:func:`plot_format`:
        ``.png``, ``.pdf``, ``.svg``, ``.jpg``, ...).
    metric : str
        Result key on the y axis.

    Raises
    ------
    ValueError
        When ``results`` is empty or the suffix of ``path`` is no format matplotlib writes.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fmt = plot_format(path)
    if not results:
        raise ValueError("no results to plot")
    groups = _grouped(results)
    settings = sorted(groups, key=lambda s: tuple(str(x) for x in s))
    fig = Figure(figsize=(6.0 * len(settings), 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(settings), squeeze=False)[0]
    for ax, setting in zip(axes, settings):
        cells = groups[setting]
        for m in _method_order(m for m, _ in cells):
            fracs = sorted(f for mm, f in cells if mm == m)
            stats = [_stats([r.get(metric) for r in cells[(m, f)]]) for f in fracs]
            pts = [(f, s) for f, s in zip(fracs, stats) if s is not None]
            if not pts:
                continue
            if m == _FULL:
                mean = np.mean([s[0] for _, s in pts]) * 100
                ax.axhline(mean, color="0.4", linestyle="--", label=f"full data ({mean:.1f}%)")
                continue
            ax.errorbar(
                [f for f, _ in pts], [s[0] * 100 for _, s in pts], yerr=[s[1] * 100 for _, s in pts],
                marker="o", capsize=3, label=m,
            )
        ax.set_xlabel("fraction of the training set kept")
        titles = {key: title for key, title, _ in METRICS}
        ax.set_ylabel(titles.get(metric, metric))
        ax.set_title(_setting_title(setting, sep="\n").replace("`", ""), fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    dest = Path(path)
    with atomic_path(dest, suffix=dest.suffix) as tmp:
        fig.savefig(tmp, format=fmt, dpi=120)
    return dest


def write_report(
    runs: Iterable[str | Path],
    out: str | Path | None = None,
    plot: str | Path | None = None,
    paired_against: Sequence[str] = (),
) -> str:
    """Collect results, write the markdown table to ``out`` and the plot to ``plot``.

    ``paired_against`` adds paired-by-seed difference tables (see :func:`format_markdown`);
    the plot's format follows its suffix (:func:`plot_format`).

    Returns
    -------
    str
        The markdown text.

    Raises
    ------
    ValueError
        For unreadable results (:func:`collect_results`), a plot suffix that names no image
        format, ``out`` and ``plot`` being one file, or either being one of the result files
        read (nothing is written then).
    """
    outputs = {"table": out, "plot": plot}
    written = {name: Path(path).resolve() for name, path in outputs.items() if path is not None}
    if plot is not None:
        plot_format(plot)
        if written["plot"] == written.get("table"):
            raise ValueError(f"the table and the plot would both be {out}: give them different paths")
    results = collect_results(runs)
    read = {Path(r["_path"]).resolve() for r in results}
    for name, path in written.items():
        if path in read:
            raise ValueError(f"the {name} {outputs[name]} is one of the result files read: writing it "
                             "would overwrite that result")
    text = format_markdown(results, paired_against)
    if out is not None:
        atomic_write_text(out, text + "\n")
    if plot is not None:
        plot_results(results, plot)
    return text
