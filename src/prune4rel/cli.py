"""Command-line interface: ``prune4rel demo | select | methods``."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import click
import numpy as np
import yaml

from prune4rel._io import atomic_save_npy, atomic_write_json
from prune4rel.selection import available_selectors, get_selector
from prune4rel.selection.base import selector_class
from prune4rel.signals import Signals


def _parse_params(pairs: tuple[str, ...]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--param")
        params[key.strip()] = yaml.safe_load(raw)
    return params


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="prune4rel")
def main() -> None:
    """Robust data pruning under label noise (Prune4ReL and baselines)."""


@main.command()
@click.option("--fraction", default=0.3, show_default=True, help="Share of the training set to keep.")
@click.option("--seed", default=0, show_default=True, help="Seed of the noise, split, models and uniform.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def demo(fraction: float, seed: int, quiet: bool) -> None:
    """Prune4ReL vs. Uniform on scikit-learn's digits with 40% label noise (no download)."""
    from prune4rel.demo import run_demo

    run_demo(fraction=fraction, seed=seed, progress=not quiet)


@main.command()
def methods() -> None:
    """List the selection methods and their hyper-parameters."""
    for name in available_selectors():
        cls = selector_class(name)
        doc = (inspect.getdoc(cls) or "").splitlines()[0]
        params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        click.echo(f"{name:18s} {doc}")
        click.echo(f"{'':18s} params: {', '.join(params) or '-'}")


@main.command()
@click.argument("signals", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--fraction", required=True, type=float, help="Fraction in (0, 1], or a count above 1.")
@click.option("--method", default="prune4rel", show_default=True, help="Selector name (see `methods`).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Output .npy.")
@click.option("--tau", type=float, help="prune4rel: similarity threshold.")
@click.option("--eta", type=float, help="prune4rel: tanh temperature.")
@click.option("--objective", type=click.Choice(["published", "full"]), help="prune4rel: greedy rule.")
@click.option("--confidence", type=click.Choice(["max_prob", "margin"]), help="prune4rel: conf(s).")
@click.option("--backend", type=click.Choice(["auto", "dense", "graph"]), help="prune4rel: backend.")
@click.option("--k", type=int, help="prune4rel: cap on neighbours per example.")
@click.option("--device", help="prune4rel: 'cpu' or 'cuda'.")
@click.option("--balance/--no-balance", default=None, help="Class-balanced selection.")
@click.option("--seed", type=int, help="Seed, for methods that draw at random.")
@click.option("--param", "extra", multiple=True, metavar="KEY=VALUE", help="Any other hyper-parameter.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def select(
    signals: Path,
    fraction: float,
    method: str,
    out: Path,
    extra: tuple[str, ...],
    quiet: bool,
    **options: Any,
) -> None:
    """Select a subset from a SIGNALS file (written by Signals.save or warm-up).

    Writes the selected indices (pick order) to OUT atomically, and a JSON summary next to
    it (OUT with suffix .json).
    """
    params = {k: v for k, v in options.items() if v is not None}
    params.update(_parse_params(extra))
    if fraction > 1 and not float(fraction).is_integer():
        raise click.BadParameter("a value above 1 must be a whole count", param_hint="--fraction")
    budget: int | float = fraction if fraction <= 1 else int(fraction)
    try:
        selector = get_selector(method, **params)
        if "progress" in selector.get_params() and "progress" not in params:
            selector.progress = not quiet  # type: ignore[attr-defined]
        data = Signals.load(signals)
        result = selector.select(data, budget)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    atomic_save_npy(out, result.indices)
    summary = {
        "signals": str(signals),
        "method": result.method,
        "params": result.params,
        "n": data.n,
        "budget": len(result),
        "objective": result.objective,
        "seconds": round(result.seconds, 3),
        "subset_noise_rate": (
            float(np.mean(data.labels[result.indices] != data.clean_labels[result.indices]))
            if data.clean_labels is not None
            else None
        ),
    }
    atomic_write_json(out.with_suffix(".json"), summary)
    click.echo(json.dumps(summary, indent=None))


if __name__ == "__main__":
    main()
