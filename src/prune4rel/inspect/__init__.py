"""``prune4rel inspect``: what a warm-up's signals say about each example, and what to keep.

:func:`inspect_signals` writes, for one :class:`~prune4rel.signals.Signals`, a per-example
table (CSV and Parquet: given and predicted label, confidence, agreement, tau-degree, and per
selection method its rank and the neighbourhood confidence ``N(x; S)``; clean labels when
present), plots (confidence and degree histograms; with clean labels, re-labeling correctness
against neighbourhood confidence) and a one-page markdown summary (noise estimates, per-class
counts, the selections, what fraction to keep). A top-level unit: it uses the selection and
neighbour layers and nothing uses it but the CLI.
"""

from prune4rel.inspect.plots import plot_confidence, plot_degree, plot_relabel_vs_neighborhood
from prune4rel.inspect.run import Inspection, inspect_signals
from prune4rel.inspect.summary import NoiseEstimate, binned_accuracy, estimate_noise, summary_markdown
from prune4rel.inspect.table import (
    example_table,
    neighborhood_confidence,
    write_table_csv,
    write_table_parquet,
)

__all__ = [
    "Inspection",
    "NoiseEstimate",
    "binned_accuracy",
    "estimate_noise",
    "example_table",
    "inspect_signals",
    "neighborhood_confidence",
    "plot_confidence",
    "plot_degree",
    "plot_relabel_vs_neighborhood",
    "summary_markdown",
    "write_table_csv",
    "write_table_parquet",
]
