"""`prune4rel demo`: the bundled, download-free comparison of selectors."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import click

from prune4rel.selection import available_selectors

#: DemoSettings field -> the `demo` option that sets it
_DEMO_OPTIONS = {"fractions": "--fraction", "seeds": "--seed", "methods": "--method", "noise": "--noise",
                 "epochs": "--epochs"}


@click.command(short_help="Compare selectors on digits with human-like label noise.")
@click.option("--fraction", "fractions", multiple=True, type=float,
              help="Share of the training set to keep, in [0.05, 1]; repeat for several [0.2 0.4 0.6].")
@click.option("--seed", "seeds", multiple=True, type=click.IntRange(0, 2**32 - 1),
              help="Seed of a split, noise, warm-up and trainings; repeat for several [0 1 2 3 4].")
@click.option("--method", "methods", multiple=True, type=click.Choice(available_selectors()),
              help="Selector compared with uniform; repeat for several "
                   "[small_loss prune4rel prune4rel_agree].")
@click.option("--noise", type=click.Choice(["worst", "random"]), default="worst", show_default=True,
              help="Human-like label noise at CIFAR-10N worst's rate (40%) or random1's (17%).")
@click.option("--epochs", type=click.IntRange(min=1), help="SOP+ epochs on each subset [30].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default="prune4rel-demo",
              show_default=True, help="Folder for table.md, accuracy.png and results.json.")
@click.option("--workers", type=click.IntRange(min=1),
              help="Processes running the trainings [2 where the machine has 2 cores, 1 with --quick].")
@click.option("--quick", is_flag=True, help="Two seeds, two fractions, 2 epochs: a few seconds, for tests.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def demo(
    fractions: tuple[float, ...],
    seeds: tuple[int, ...],
    methods: tuple[str, ...],
    noise: str,
    epochs: int | None,
    out: Path,
    workers: int | None,
    quick: bool,
    quiet: bool,
) -> None:
    """Which subset should a re-labeling learner train on? uniform, small_loss, prune4rel and
    prune4rel_agree on scikit-learn's digits with human-like label noise (no download).

    Prints what the data is, mean ± std over seeds of test accuracy, subset noise and
    re-labeling accuracy, the difference to uniform paired by seed and a verdict; writes them
    with a plot to OUT.
    """
    from prune4rel.demo import BASELINE, QUICK, DemoSettings, run_demo
    from prune4rel.validation import ParameterError

    preset = QUICK if quick else DemoSettings()
    try:
        settings = dataclasses.replace(
            preset, fractions=tuple(sorted(set(fractions))) or preset.fractions,
            seeds=tuple(sorted(set(seeds))) or preset.seeds,
            methods=tuple(dict.fromkeys((BASELINE, *methods))) if methods else preset.methods,
            noise=noise, epochs=epochs or preset.epochs,
        )
    except ParameterError as exc:
        hint = f"'{_DEMO_OPTIONS[exc.name]}'"
        raise click.BadParameter(f"{exc.value!r}: must be {exc.allowed}", param_hint=hint) from None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        message = f"cannot create folder {str(out)!r}: {exc.strerror}"
        raise click.BadParameter(message, param_hint="'--out'") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise click.BadParameter(f"folder {str(out)!r} is not writable", param_hint="'--out'")
    if workers is None:
        workers = 1 if quick else min(2, os.cpu_count() or 1)
    try:
        run_demo(settings, out, workers=workers, progress=not quiet, echo=click.echo)
    except OSError as exc:
        raise click.ClickException(f"cannot write the demo's output to {out}: {exc}") from exc
