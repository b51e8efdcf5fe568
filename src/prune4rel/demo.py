"""A one-minute, download-free demonstration of the whole pipeline.

scikit-learn's 8x8 digits get 40% symmetric label noise; a small network is warmed up on
all noisy examples to produce :class:`~prune4rel.signals.Signals`; Prune4ReL and a
uniform baseline each pick a subset; a re-labeling learner is trained on each subset; the
table reports, per method, the subset's size and noise rate, the test accuracy and the
re-labeling accuracy (share of subset examples whose corrected label is the true one).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from prune4rel.data import load_digits_noisy
from prune4rel.learners import CE, get_learner
from prune4rel.selection import available_selectors, get_selector
from prune4rel.warmup import warmup

__all__ = ["format_table", "run_demo"]

_COLUMNS = (
    ("method", "method", "{}"),
    ("subset", "size", "{}"),
    ("noise", "subset_noise", "{:.1%}"),
    ("test acc", "test_acc", "{:.1%}"),
    ("re-label acc", "relabel_acc", "{:.1%}"),
    ("seconds", "seconds", "{:.1f}"),
)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Render demo rows as an aligned plain-text table."""
    cells = [[title for title, _, _ in _COLUMNS]]
    for row in rows:
        cells.append([fmt.format(row[key]) for _, key, fmt in _COLUMNS])
    widths = [max(len(r[i]) for r in cells) for i in range(len(_COLUMNS))]
    lines = []
    for j, r in enumerate(cells):
        padded = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(padded))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run_demo(
    fraction: float = 0.3,
    seed: int = 0,
    progress: bool = True,
    *,
    noise_rate: float = 0.4,
    learner: str = "elr",
    methods: Sequence[str] = ("prune4rel", "uniform"),
    warmup_epochs: int = 8,
    epochs: int = 60,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run the digits demo and return (and print) its results.

    Parameters
    ----------
    fraction : float
        Share of the training set to keep, in (0, 1].
    seed : int
        Seeds the split, the noise, the networks and the uniform baseline.
    progress : bool
        Show progress bars.
    noise_rate : float
        Symmetric label-noise rate of the training labels.
    learner : {"elr", "sop+", "sop", "ce"}
        Learner trained on each subset. ELR is the default: on this data it shows the
        re-labeling gain as clearly as SOP+ at about half the time.
    methods : sequence of str
        Selector names; names that are not registered are skipped with a note.
    warmup_epochs, epochs : int
        Epochs of the warm-up (all examples) and of the training on each subset.
    verbose : bool
        Print the setup line and the table.

    Returns
    -------
    dict
        ``rows`` (one dict per method: method, size, subset_noise, test_acc, relabel_acc,
        seconds), ``table`` (the printed text), ``test_set``, ``dataset``, ``noise_rate``
        (realised), ``warmup`` (epochs, seconds, test accuracy), ``learner``, ``skipped``
        (unregistered methods) and ``seconds`` (total wall time).
    """
    start = time.perf_counter()
    ds = load_digits_noisy(noise_rate, seed=seed)
    common: dict[str, Any] = {"num_threads": 1, "seed": seed, "device": "cpu"}
    t = time.perf_counter()
    warm = CE("mlp", lr=0.05, batch_size=128, **common)
    signals = warmup(warm, ds, warmup_epochs, record=True, progress=progress)
    warm_info = {
        "epochs": warmup_epochs,
        "seconds": time.perf_counter() - t,
        "test_acc": warm.evaluate(ds),
    }
    registered = set(available_selectors())
    skipped = [m for m in methods if m.lower().replace("-", "_") not in registered]
    rows: list[dict[str, Any]] = []
    for method in methods:
        if method in skipped:
            continue
        t = time.perf_counter()
        params: dict[str, Any] = {"seed": seed} if method == "uniform" else {}
        selection = get_selector(method, **params).select(signals, fraction)
        idx = np.asarray(selection.indices, dtype=np.int64)
        model = get_learner(learner, model="mlp", lr=0.05, batch_size=64, **common)
        model.fit(ds, idx, epochs, progress=progress)
        rows.append({
            "method": method,
            "size": int(idx.size),
            "subset_noise": float(ds.noise_rate(idx) or 0.0),
            "test_acc": model.evaluate(ds),
            "relabel_acc": model.relabel_accuracy(idx),
            "seconds": time.perf_counter() - t,
        })
    table = format_table(rows)
    result = {
        "dataset": repr(ds),
        "test_set": ds.test_set,
        "noise_rate": ds.noise_rate(),
        "fraction": fraction,
        "learner": learner,
        "warmup": warm_info,
        "rows": rows,
        "table": table,
        "skipped": skipped,
        "seconds": time.perf_counter() - start,
    }
    if verbose:
        print(
            f"digits: {ds.n} train / {ds.n_test} test ({ds.test_set}), "
            f"{ds.noise_rate():.1%} symmetric label noise, seed {seed}; "
            f"warm-up {warmup_epochs} epochs of an MLP (test acc {warm_info['test_acc']:.1%}); "
            f"{learner} trained {epochs} epochs on {fraction:.0%} subsets"
        )
        print(table)
        for name in skipped:
            print(f"(skipped {name!r}: not a registered selector)")
        print(f"total {result['seconds']:.1f} s")
    return result


if __name__ == "__main__":  # pragma: no cover
    run_demo()
