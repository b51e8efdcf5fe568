"""``prune4rel demo``: run the grid, say what the data is, print the table and the verdict,
and write ``table.md``, ``accuracy.png`` and ``results.json`` into an output folder."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from prune4rel._io import atomic_write_json, atomic_write_text
from prune4rel.demo.experiment import (
    BASELINE,
    FULL,
    NOISE_LEVELS,
    DemoSettings,
    SeedInfo,
    run_grid,
    settings_record,
    steps,
)
from prune4rel.demo.plot import plot_demo
from prune4rel.demo.summary import format_markdown_table, format_table, leads, summarize, verdict

__all__ = ["DEFAULT_OUT", "describe", "run_demo"]

#: Where ``prune4rel demo`` writes unless given ``--out``.
DEFAULT_OUT = Path("prune4rel-demo")
_WIDTH = 100


def _range(values: Sequence[float]) -> str:
    """"23-51%", or "40%" when the values round alike."""
    low, high = round(100 * min(values)), round(100 * max(values))
    return f"{low}%" if low == high else f"{low}-{high}%"


def describe(settings: DemoSettings, seeds: Sequence[SeedInfo]) -> list[tuple[str, str]]:
    """What the data, the noise, the warm-up, the learner and the grid are: (item, text) pairs."""
    level = NOISE_LEVELS[settings.noise]
    first = seeds[0]
    warm = np.asarray([s.warmup_test_acc for s in seeds])
    warm_text = f"{100 * warm.mean():.1f}" + (f" ± {100 * warm.std(ddof=1):.1f}" if warm.size > 1 else "")
    low, high = level.cifar10n_class_range
    per_class = _range([min(s.noise.class_min for s in seeds), max(s.noise.class_max for s in seeds)])
    return [
        ("data", f"scikit-learn's digits (bundled, no download; 8x8 images, 10 classes): {first.n_train} "
                 f"training and {first.n_test} clean test images, a new 70/30 split per seed"),
        ("noise", f"{_range([s.noise.rate for s in seeds])} of the training labels wrong, like CIFAR-10N "
                  f"{level.cifar10n} ({100 * level.cifar10n_rate:.1f}%): digits a weak annotator (logistic "
                  f"regression on 4x4-blurred images, {_range([s.annotator_accuracy for s in seeds])} right) "
                  f"finds hard are flipped more often, to a class it confuses them with; per class "
                  f"{per_class}, {_range([s.noise.top_share for s in seeds])} of the flips to the class's "
                  f"top wrong label ({level.cifar10n}: {_range([low, high])}, "
                  f"{100 * level.cifar10n_top_share:.0f}%)"),
        ("warm-up", f"cross-entropy, MLP, {settings.warmup_epochs} epochs on every noisy example (test acc "
                    f"{warm_text}%); its losses, predictions and features feed the selectors"),
        ("learner", f"{settings.learner.upper()} (re-labeling), MLP, lr {settings.lr:g}, batch "
                    f"{settings.batch_size}, {settings.epochs} epochs on each subset; accuracy after the "
                    f"last epoch on the clean test images"),
        ("grid", f"{', '.join(settings.methods)} x keep {', '.join(f'{f:g}' for f in settings.fractions)} "
                 f"of the training set x seeds {', '.join(str(s) for s in settings.seeds)}"
                 + (" (+ all data, method 'full')" if settings.full_data else "")
                 + ("; a smoke test (--quick): too few epochs for the numbers to mean anything"
                    if settings.smoke_test else "")),
    ]


def _title(settings: DemoSettings) -> str:
    level = NOISE_LEVELS[settings.noise]
    return (f"prune4rel demo: digits, {100 * level.rate:.0f}% human-like label noise (like CIFAR-10N "
            f"{level.cifar10n}), {settings.learner.upper()} {settings.epochs} epochs on each subset")


def _wrapped(items: Sequence[tuple[str, str]]) -> list[str]:
    lines = []
    for key, text in items:
        lines += textwrap.wrap(f"{key:<8} {text}", width=_WIDTH, subsequent_indent=" " * 9)
    return lines


def _markdown(items: Sequence[tuple[str, str]], table: str, verdict_text: str, baseline: str) -> str:
    setting = "\n".join(f"- **{key}** {text}" for key, text in items)
    return (
        "# prune4rel demo\n\n"
        f"{setting}\n\n"
        f"Mean ± sample std over seeds; the difference to `{baseline}` is paired by seed (same split, "
        "noise and warm-up), with a 95% Student-t interval and the seeds where the method is above / "
        "level with / below it (W/T/L).\n\n"
        f"{table}\n\n{verdict_text}\n"
    )


def run_demo(
    settings: DemoSettings | None = None,
    out: str | Path = DEFAULT_OUT,
    workers: int = 1,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the demo, print its report and write it to ``out``.

    Parameters
    ----------
    settings : DemoSettings, optional
        Default: :class:`~prune4rel.demo.experiment.DemoSettings` ().
    out : path
        Output folder (created); ``table.md``, ``accuracy.png`` and ``results.json`` in it
        are replaced atomically.
    workers : int
        Processes for the trainings (1: this process).
    progress : bool
        A progress bar on stderr.
    echo : callable
        Receives the report's text.

    Returns
    -------
    dict
        ``seeds`` (list of SeedInfo), ``results`` (one dict per training), ``cells``,
        ``verdict``, ``table``, ``files`` (name -> Path) and ``seconds``.
    """
    settings = settings or DemoSettings()
    start = time.perf_counter()
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    with tqdm(total=steps(settings), disable=not progress, desc="demo", unit="step", leave=False) as bar:
        seeds, results = run_grid(settings, workers, on_done=bar.update)
    cells = summarize(results, BASELINE)
    verdict_text = verdict(cells, leads([r for r in results if r["method"] != FULL], cells), BASELINE)
    items = describe(settings, seeds)
    table = format_table(cells, BASELINE)
    files = {name: folder / file for name, file in
             (("table", "table.md"), ("plot", "accuracy.png"), ("results", "results.json"))}
    markdown = _markdown(items, format_markdown_table(cells, BASELINE), verdict_text, BASELINE)
    atomic_write_text(files["table"], markdown)
    plot_demo(cells, files["plot"], _title(settings), BASELINE)
    record = {
        "format": "prune4rel.demo", "settings": settings_record(settings),
        "seeds": [asdict(s) for s in seeds],
        "results": [{k: v for k, v in r.items() if k != "_path"} for r in results],
        "verdict": verdict_text,
    }
    atomic_write_json(files["results"], record)
    seconds = time.perf_counter() - start
    workers_text = "this process" if workers == 1 else f"{workers} worker processes"
    echo("\n".join([
        *_wrapped(items), "", table, "", *textwrap.wrap(verdict_text, _WIDTH, subsequent_indent="  "), "",
        f"wrote {folder}/: table.md (this table), accuracy.png (test accuracy vs. kept fraction), "
        "results.json (every training)",
        f"total {seconds:.0f} s ({workers_text})",
    ]))
    return {"seeds": seeds, "results": results, "cells": cells, "verdict": verdict_text, "table": table,
            "files": files, "seconds": seconds}
