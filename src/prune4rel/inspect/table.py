"""The per-example table of ``prune4rel inspect``: one row per training example.

Columns, in order (``M`` for each inspected selection method):

==========================  =========  ===================================================
column                      type       meaning
==========================  =========  ===================================================
``index``                   int64      row of the Signals (dataset index)
``given_label``             int64      the given (possibly noisy) label
``predicted_label``         int64      ``argmax`` of the warm-up's ``probs``
``confidence``              float64    largest probability (Prune4ReL's ``conf``)
``given_prob``              float64    probability of the given label
``agrees``                  bool       prediction equals the given label
``degree``                  int64      tau-neighbours besides the example itself
``nbr_conf_M``              float64    ``N(x; S)`` for ``S`` = M's selection
``rank_M``                  int64      1 = M's first pick / best; null when not selected
``clean_label``             int64      true label, when the Signals carry them
``label_is_wrong``          bool       given label differs from the clean one (idem)
==========================  =========  ===================================================

``N(x; S) = sum_{s in S, sim(x, s) > tau} sim(x, s) * conf(s)`` with ``conf`` the largest
probability, for every method's ``S`` (the published definition, so that the columns of two
methods compare).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from prune4rel._io import atomic_path, atomic_write_text
from prune4rel.neighbors import CSRGraph
from prune4rel.selection import Selection
from prune4rel.selection.prune4rel_selector import confidence_scores
from prune4rel.signals import Signals

__all__ = ["example_table", "neighborhood_confidence", "write_table_csv", "write_table_parquet"]

#: A table: column name -> array of length n; rank columns are masked where not selected.
Table = dict[str, np.ndarray]


def neighborhood_confidence(graph: CSRGraph, confidence: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """``N(x; S)`` of every example for the subset ``S = indices``.

    Parameters
    ----------
    graph : CSRGraph
        The tau-graph of the examples (row ``x`` lists its neighbours, itself included).
    confidence : ndarray of float, shape (n,)
        ``conf(s)`` of every example.
    indices : ndarray of int, shape (m,)
        The subset.

    Returns
    -------
    ndarray of float64, shape (n,)
    """
    weights = np.zeros(graph.n)
    weights[indices] = confidence[indices]
    return np.asarray(graph.to_scipy().astype(np.float64) @ weights)


def example_table(signals: Signals, graph: CSRGraph, selections: Mapping[str, Selection]) -> Table:
    """The per-example table (see the module docstring for the columns).

    Parameters
    ----------
    signals : Signals
    graph : CSRGraph
        The tau-graph of ``signals.embeddings``, every tau-neighbour (no ``k`` cap).
    selections : mapping of str to Selection
        Method name -> its selection on ``signals``.

    Returns
    -------
    dict of str to ndarray
        Columns of length n; ``rank_M`` columns are :class:`numpy.ma.MaskedArray`.
    """
    n = signals.n
    probs = np.asarray(signals.probs, dtype=np.float64)
    labels = signals.labels
    predicted = probs.argmax(axis=1).astype(np.int64)
    conf = confidence_scores(probs, "max_prob")
    table: Table = {
        "index": np.arange(n, dtype=np.int64),
        "given_label": labels.astype(np.int64),
        "predicted_label": predicted,
        "confidence": conf,
        "given_prob": probs[np.arange(n), labels],
        "agrees": predicted == labels,
        "degree": (graph.degrees() - 1).astype(np.int64),
    }
    for method, selection in selections.items():
        idx = np.asarray(selection.indices, dtype=np.int64)
        table[f"nbr_conf_{method}"] = neighborhood_confidence(graph, conf, idx)
        rank = np.zeros(n, dtype=np.int64)
        rank[idx] = np.arange(1, idx.size + 1)
        table[f"rank_{method}"] = np.ma.masked_array(rank, mask=rank == 0)
    if signals.clean_labels is not None:
        table["clean_label"] = signals.clean_labels.astype(np.int64)
        table["label_is_wrong"] = labels != signals.clean_labels
    return table


def _cells(column: np.ndarray) -> list[object]:
    values = column.tolist() if not np.ma.isMaskedArray(column) else column.filled(0).tolist()
    if column.dtype == bool:
        values = [int(v) for v in values]
    if np.ma.isMaskedArray(column):
        values = ["" if m else v for v, m in zip(values, np.ma.getmaskarray(column).tolist())]
    return values


def write_table_csv(table: Table, path: str | os.PathLike[str]) -> Path:
    """Write ``table`` as CSV, atomically: a header row, booleans as 0/1, masked cells empty,
    floats in their shortest exact form."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(list(table))
    writer.writerows(zip(*(_cells(column) for column in table.values())))
    atomic_write_text(path, text.getvalue())
    return Path(path)


def write_table_parquet(table: Table, path: str | os.PathLike[str]) -> Path:
    """Write ``table`` as Parquet, atomically; masked cells are nulls (extra ``[hf]``: pyarrow)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError("the Parquet table needs pyarrow: pip install 'prune4rel[hf]'") from exc
    arrays = {
        name: pa.array(np.ma.getdata(col), mask=np.ma.getmaskarray(col) if np.ma.isMaskedArray(col) else None)
        for name, col in table.items()
    }
    with atomic_path(path) as tmp:
        pq.write_table(pa.table(arrays), tmp)
    return Path(path)
