"""Long stages show progress: the compiled greedy (both objectives, and the full objective's
passes over the graph), k-center, the neighbour graph's phases; Ctrl-C stops the compiled greedy."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import softmax

from prune4rel import Signals
from prune4rel.neighbors import build_graph
from prune4rel.neighbors.exact import exact_graph
from prune4rel.selection import Prune4ReL
from prune4rel.selection import greedy_numba as gn
from prune4rel.selection.greedy_kernel import greedy_kernel
from prune4rel.selection.kcenter import kcenter_greedy


def clustered(n: int = 400, d: int = 8, seed: int = 0) -> Signals:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(5, d))
    labels = rng.integers(0, 5, n)
    emb = centers[labels] + 0.3 * rng.normal(size=(n, d))
    return Signals(labels=labels, probs=softmax(rng.normal(size=(n, 5))), embeddings=emb)


@pytest.mark.parametrize("objective", ["published", "full"])
def test_the_compiled_greedy_shows_its_picks(objective, capsys):
    sig = clustered()
    sel = Prune4ReL(tau=0.9, objective=objective, engine="numba", progress=True).select(sig, 40)
    err = capsys.readouterr().err
    assert sel.extras["engine"] == "numba"
    assert f"greedy ({objective} objective)" in err and "40/40" in err
    if objective == "full":  # the passes before and after the greedy
        assert "greedy (full objective): initial gains" in err and "400/400" in err
        assert "greedy (full objective): gains" in err


def test_no_bar_without_progress(capsys):
    Prune4ReL(tau=0.9, objective="full", engine="numba", progress=False).select(clustered(), 40)
    assert "prune4rel" not in capsys.readouterr().err


def test_kcenter_shows_its_picks(capsys):
    kcenter_greedy(np.random.default_rng(0).normal(size=(300, 20)), 120, 0, progress=True)
    err = capsys.readouterr().err
    assert "kcenter" in err and "/120 " in err  # the bar over the picks (cleared when done)


def test_the_graph_build_shows_its_clustering_and_assembly(capsys):
    emb = clustered(n=600).embeddings
    exact_graph(emb, 0.9, prune="clusters", progress=True)
    err = capsys.readouterr().err
    assert "neighbour graph: clustering" in err and "neighbour graph: assembling" in err


def test_the_kernel_stops_before_its_next_pick_when_asked():
    sig = clustered()
    graph = build_graph(sig.embeddings, 0.9).transpose()
    control = np.array([0, 1], dtype=np.int64)  # stop asked before the first pick
    conf = np.ones(sig.n)
    labels = sig.labels.astype(np.int64)
    indptr = graph.indptr.astype(np.int64)
    init = np.tanh(conf)
    greedy_kernel(indptr, graph.indices, graph.sims, conf, labels, 5, init, 40, 1.0, False, True, control)
    assert control[0] == 0


def test_an_interrupt_while_waiting_stops_the_kernel_and_is_raised(monkeypatch):
    control = np.zeros(2, dtype=np.int64)
    stopped = threading.Event()

    def kernel():  # stands for a compiled kernel: counts steps, stops when asked
        while control[1] == 0:
            control[0] += 1
        stopped.set()
        return "done"

    def interrupted(self, n=1):
        raise KeyboardInterrupt

    monkeypatch.setattr(gn.tqdm, "update", interrupted)
    with pytest.raises(KeyboardInterrupt):
        gn._run_with_progress(kernel, control, 10, "test", progress=True)
    assert control[1] == 1 and stopped.is_set()


def test_an_error_in_the_kernel_is_raised_in_the_caller():
    def kernel():
        raise IndexError("bad row")

    with pytest.raises(IndexError, match="bad row"):
        gn._run_with_progress(kernel, np.zeros(2, dtype=np.int64), 10, "test", progress=False)
