"""`prune4rel inspect`: a per-example table, plots and summary of a signals file."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import click

from prune4rel.arrayfiles import open_npy, read_npz
from prune4rel.cli.input import FRACTION, NonEmptyPath, parse_pairs, split_names
from prune4rel.signals import Signals


def _clean_labels(spec: str) -> Any:
    """``FILE.npy`` or ``FILE.npz:KEY`` (``clean_label`` when KEY is left out) as an array."""
    path, key = spec.rsplit(":", 1) if ".npz:" in spec else (spec, "")
    if not path.endswith(".npz"):
        return open_npy(path)
    arrays, name = read_npz(path), key or "clean_label"
    if name not in arrays:
        raise click.BadParameter(f"{path} has no array {name!r}; it has {sorted(arrays)}",
                                 param_hint="--clean-labels")
    return arrays[name]


@click.command("inspect", short_help="Per-example table, plots and summary of a signals file.")
@click.argument("signals", type=NonEmptyPath(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=NonEmptyPath(file_okay=False, path_type=Path),
              help="Output folder.")
@click.option("--method", "methods", multiple=True, default=("prune4rel",), show_default=True,
              help="Selector whose selection, rank and N(x; S) go into the table (repeat or comma-separate).")
@click.option("--fraction", default=0.3, show_default=True, type=FRACTION, help="Budget of every selection.")
@click.option("--tau", default=0.975, show_default=True, type=float,
              help="Similarity threshold of the graph (degree, N(x; S)) and of the Prune4ReL selectors.")
@click.option("--param", "extra", multiple=True, metavar="METHOD.KEY=VALUE",
              help="A hyper-parameter of one method, e.g. cleanlab.pred_probs=given (VALUE read as YAML).")
@click.option("--clean-labels", metavar="FILE[:KEY]",
              help="True labels for evaluation, if SIGNALS has none: an .npy, or an .npz and its key "
              "(default key clean_label).")
@click.option("--quiet", is_flag=True, help="No progress bars or step lines.")
def inspect_command(
    signals: Path, out: Path, methods: tuple[str, ...], fraction: float, tau: float,
    extra: tuple[str, ...], clean_labels: str | None, quiet: bool,
) -> None:
    """Per-example table, plots and a one-page summary of a SIGNALS file, in OUT.

    Writes examples.csv and examples.parquet (given and predicted label, confidence,
    agreement, tau-degree, per method its rank and N(x; S) at --fraction, clean label),
    confidence.png, degree.png, relabel_vs_neighborhood.png (with clean labels) and
    summary.md (noise estimates, per-class counts, what fraction to keep).
    """
    from prune4rel.inspect import inspect_signals

    params: dict[str, dict[str, Any]] = {}
    for key, value in parse_pairs(extra, "--param").items():
        method, dot, name = key.partition(".")
        if not dot or not method or not name:
            raise click.BadParameter(f"expected METHOD.KEY=VALUE, got {key!r}", param_hint="--param")
        params.setdefault(method, {})[name] = value
    start = time.perf_counter()
    data = Signals.load(signals)
    if clean_labels is not None:
        data = dataclasses.replace(data, clean_labels=_clean_labels(clean_labels))
    result = inspect_signals(
        data, out, methods=split_names(methods) or ["prune4rel"], fraction=fraction, tau=tau,
        params=params, source=signals.name, progress=not quiet, log=None if quiet else click.echo,
    )
    for note in result.notes:
        click.echo(f"note: {note}")
    click.echo(f"wrote {', '.join(p.name for p in result.files.values())} to {out} "
               f"({time.perf_counter() - start:.1f} s)")
