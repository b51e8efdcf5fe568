"""cleanlab beside small_loss and prune4rel_agree on the shared CIFAR-10N worst warm-up (selection only).

Reads ``cifar10n_worst_signals_smallcnn.npz`` (a small CNN's 8-epoch cross-entropy warm-up on
the worst labels, 40.2% wrong; see ``../shared/data/README.md``) and the clean labels, for
evaluation only, and prints, for fractions 0.2/0.4/0.6/0.8, the share of wrong given labels in
each method's subset, and each method's selection time (CPU)::

    PYTHONPATH=src python benchmarks/cifar10n/cleanlab_compare.py --data ../shared/data

``cleanlab`` runs twice: on out-of-sample probabilities of a 5-fold cross-validated logistic
regression on the embeddings (``pred_probs="cross_val"``, the default) and on the warm-up's
in-sample ``probs`` (``pred_probs="given"``). For both it also prints how many examples
cleanlab flags, the share of them that are truly mislabelled (precision) and the share of the
mislabelled examples it flags (recall). The neighbour graph of prune4rel_agree is built once
(its time is printed apart) and reused for every fraction.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from prune4rel import Signals, get_selector
from prune4rel.neighbors import build_graph
from prune4rel.selection import Prune4ReLAgree

FRACTIONS = (0.2, 0.4, 0.6, 0.8)


def load_worst(data: Path) -> Signals:
    """The shared worst-label warm-up signals with the clean labels attached."""
    with np.load(data / "cifar10n_worst_signals_smallcnn.npz") as npz:
        arrays = {k: npz[k] for k in npz.files if npz[k].ndim > 0}
    with np.load(data / "cifar10n_labels.npz") as npz:
        arrays["clean_labels"] = npz["clean_label"]
    return Signals.from_arrays(arrays)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--threads", type=int, default=1, help="torch threads (graph build)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    signals = load_worst(args.data)
    assert signals.clean_labels is not None
    wrong = signals.labels != signals.clean_labels
    print(f"n = {signals.n}, wrong given labels: {wrong.mean():.1%}")

    start = time.perf_counter()
    graph = build_graph(signals.embeddings, Prune4ReLAgree().tau)
    print(f"prune4rel_agree graph: {graph.nnz} edges, built in {time.perf_counter() - start:.1f} s")
    methods = {
        "small_loss": get_selector("small_loss", balance=True),
        "prune4rel_agree": Prune4ReLAgree(),
        "cleanlab (cross_val)": get_selector("cleanlab"),
        "cleanlab (given)": get_selector("cleanlab", pred_probs="given"),
    }
    rows: dict[str, list[tuple[float, float]]] = {}
    for name, selector in methods.items():
        rows[name] = []
        for fraction in FRACTIONS:
            if isinstance(selector, Prune4ReLAgree):
                sel = selector.select(signals, fraction, graph=graph)
            else:
                sel = selector.select(signals, fraction)
            rows[name].append((float(wrong[sel.indices].mean()), sel.seconds))
            if name.startswith("cleanlab") and fraction == FRACTIONS[0]:
                flagged = sel.extras["label_issue"]
                print(
                    f"{name}: flags {flagged.sum()} ({flagged.mean():.1%}); precision "
                    f"{wrong[flagged].mean():.1%}, recall {flagged[wrong].mean():.1%}; "
                    f"{sel.seconds:.1f} s"
                )

    head = "| method | " + " | ".join(f"noise @ {f}" for f in FRACTIONS) + " | seconds per selection |"
    print("\n" + head)
    print("|" + "---|" * (len(FRACTIONS) + 2))
    for name, cells in rows.items():
        noise = " | ".join(f"{rate:.1%}" for rate, _ in cells)
        seconds = "/".join(f"{s:.1f}" for _, s in cells)
        print(f"| {name} | {noise} | {seconds} |")


if __name__ == "__main__":
    main()
