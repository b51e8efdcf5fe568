"""``inspect_signals``: the whole inspection of one Signals file into a folder."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prune4rel._io import atomic_write_text
from prune4rel.inspect.plots import plot_confidence, plot_degree, plot_relabel_vs_neighborhood
from prune4rel.inspect.summary import NoiseEstimate, estimate_noise, summary_markdown
from prune4rel.inspect.table import Table, example_table, write_table_csv, write_table_parquet
from prune4rel.neighbors import CSRGraph, build_graph
from prune4rel.selection import Prune4ReL, Selection, Selector, get_selector
from prune4rel.signals import Signals

__all__ = ["Inspection", "inspect_signals"]


@dataclass
class Inspection:
    """What :func:`inspect_signals` computed and wrote.

    Attributes
    ----------
    table : dict of str to ndarray
        The per-example table (see :mod:`prune4rel.inspect.table`).
    noise : list of NoiseEstimate
    selections : dict of str to Selection
    files : dict of str to Path
        ``table_csv``, ``table_parquet`` (when pyarrow is installed), ``confidence_png``,
        ``degree_png``, ``relabel_png`` (with clean labels), ``summary_md``.
    seconds : dict of str to float
        Wall time of each step (``graph``, ``select_<method>``, ``table``, ``plots``, ``total``).
    notes : list of str
        What was skipped and why.
    """

    table: Table
    noise: list[NoiseEstimate]
    selections: dict[str, Selection]
    files: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _histories(signals: Signals) -> str:
    have = [f"{name} ({getattr(signals, name).shape[0]} epochs)"
            for name in ("losses", "correct", "margins") if signals.has(name)]
    return ", ".join(have) or "none"


def _select(selector: Selector, signals: Signals, fraction: float, graph: CSRGraph) -> Selection:
    """Select, on the prebuilt exact ``graph`` when the selector would build that one."""
    if (
        isinstance(selector, Prune4ReL) and selector.tau == graph.tau and selector.k is None
        and selector.target_degree is None and selector.backend in ("auto", "graph")
    ):
        return selector.select(signals, fraction, graph=graph)
    return selector.select(signals, fraction)


def inspect_signals(
    signals: Signals,
    out_dir: str | os.PathLike[str],
    *,
    methods: Sequence[str] = ("prune4rel",),
    fraction: float = 0.3,
    tau: float = 0.975,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    source: str = "signals",
    progress: bool = True,
    log: Callable[[str], None] | None = print,
) -> Inspection:
    """Inspect per-example signals: table, plots and a one-page summary in ``out_dir``.

    Steps: the exact tau-neighbour graph (built once, :func:`~prune4rel.neighbors.build_graph`;
    the Prune4ReL selectors at the same ``tau`` reuse it), one selection per method at
    ``fraction``, the per-example table (``examples.csv``, ``examples.parquet``), the plots
    (``confidence.png``, ``degree.png`` and, with clean labels, ``relabel_vs_neighborhood.png``:
    the paper's central figure with the warm-up prediction's correctness as the re-labeling
    proxy) and ``summary.md`` (noise estimates, per-class counts, the selections, what to keep).

    Parameters
    ----------
    signals : Signals
    out_dir : path
        Created when missing; files in it are replaced (each write is atomic).
    methods : sequence of str
        Registered selectors whose selection, rank and ``N(x; S)`` go into the table.
    fraction : float
        Budget of every selection, in (0, 1] (or a count).
    tau : float
        Similarity threshold of the graph (degrees and ``N(x; S)``) and of the Prune4ReL
        selectors unless ``params`` sets theirs.
    params : mapping of str to mapping, optional
        Method -> its hyper-parameters.
    source : str
        How the summary names the signals (e.g. the file name).
    progress : bool
        Progress bars for the graph build and the selectors that have one.
    log : callable, optional
        Receives one line per finished step (default: ``print``; None: silent).

    Returns
    -------
    Inspection

    Raises
    ------
    ValueError
        For an unknown method or a parameter it does not take.
    """
    start = time.perf_counter()
    say = log or (lambda _: None)
    out = Path(out_dir)
    selectors = {}
    for method in methods:  # every name and parameter checked before the long steps
        given = dict((params or {}).get(method, {}))
        selector = get_selector(method, **given)
        if isinstance(selector, Prune4ReL) and "tau" not in given:
            selector.set_params(tau=tau)
        if "progress" in selector.param_rules:
            selector.set_params(progress=progress)
        selectors[method] = selector
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    graph = build_graph(signals.embeddings, tau, progress=progress)
    seconds["graph"] = time.perf_counter() - t
    say(f"graph: {graph.nnz} edges at tau {tau:g} in {seconds['graph']:.1f} s")
    selections: dict[str, Selection] = {}
    for method, selector in selectors.items():
        t = time.perf_counter()
        selections[method] = _select(selector, signals, fraction, graph)
        seconds[f"select_{method}"] = time.perf_counter() - t
        say(f"{method}: {len(selections[method])} examples in {seconds[f'select_{method}']:.1f} s")
    t = time.perf_counter()
    table = example_table(signals, graph, selections)
    noise = estimate_noise(table, signals.probs)
    result = Inspection(table, noise, selections, seconds=seconds)
    result.files["table_csv"] = write_table_csv(table, out / "examples.csv")
    try:
        result.files["table_parquet"] = write_table_parquet(table, out / "examples.parquet")
    except ImportError as exc:
        result.notes.append(f"examples.parquet skipped: {exc}")
    seconds["table"] = time.perf_counter() - t
    say(f"table: {signals.n} rows in {seconds['table']:.1f} s")
    t = time.perf_counter()
    result.files["confidence_png"] = plot_confidence(table, out / "confidence.png")
    result.files["degree_png"] = plot_degree(table, tau, out / "degree.png")
    if signals.clean_labels is not None:
        result.files["relabel_png"] = plot_relabel_vs_neighborhood(
            table, list(selections), out / "relabel_vs_neighborhood.png"
        )
    else:
        result.notes.append("relabel_vs_neighborhood.png skipped: the signals carry no clean labels")
    seconds["plots"] = time.perf_counter() - t
    info = {
        "source": source, "n": signals.n, "num_classes": signals.num_classes,
        "dim": int(signals.embeddings.shape[1]), "histories": _histories(signals), "tau": tau,
        "graph_seconds": seconds["graph"], "fraction": fraction,
    }
    sel_info = {m: {"size": len(s), "seconds": seconds[f"select_{m}"]} for m, s in selections.items()}
    text = summary_markdown(table, noise, info, sel_info)
    if result.notes:
        text += "\n" + "\n".join(f"- {note}" for note in result.notes) + "\n"
    result.files["summary_md"] = out / "summary.md"
    atomic_write_text(result.files["summary_md"], text)
    seconds["total"] = time.perf_counter() - start
    say(f"wrote {len(result.files)} files to {out} in {seconds['total']:.1f} s")
    return result
