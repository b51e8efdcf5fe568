"""A neighbour graph built once gives the selection that building it inside gives."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import softmax

from prune4rel import Signals
from prune4rel.neighbors import GraphMismatchError, build_graph, exact_graph
from prune4rel.selection import Prune4ReL, Prune4ReLAgree
from prune4rel.selection.greedy_numba import numba_available
from prune4rel.selection.prune4rel_selector import resolve_tau

NO_NUMBA = pytest.mark.skipif(not numba_available(), reason="numba is not installed")
ENGINES = ["python", pytest.param("numba", marks=NO_NUMBA)]


def noisy_signals(seed: int, n: int = 90, dim: int = 3, classes: int = 3) -> Signals:
    """Clustered embeddings with exact duplicates (similarity ties, also at a k cap)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(5, dim))
    emb = centers[rng.integers(0, 5, n)] + 0.3 * rng.normal(size=(n, dim))
    emb[rng.integers(0, n, n // 4)] = emb[rng.integers(0, n, n // 4)]
    probs = softmax(2 * rng.normal(size=(n, classes)))
    labels = rng.integers(0, classes, n)
    agree = rng.random(n) < 0.5
    labels[agree] = probs[agree].argmax(axis=1)
    return Signals(labels=labels, probs=probs, embeddings=emb)


def assert_same_selection(a, b) -> None:
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.gains, b.gains)
    assert a.objective == b.objective
    assert (a.method, a.params) == (b.method, b.params)
    assert a.extras.keys() == b.extras.keys()
    for key in a.extras:
        np.testing.assert_array_equal(a.extras[key], b.extras[key])


@pytest.mark.parametrize("cls", [Prune4ReL, Prune4ReLAgree])
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("k", [None, 1, 3])
@pytest.mark.parametrize("balance", [True, False])
@pytest.mark.parametrize("objective", ["published", "full"])
def test_prebuilt_graph_gives_the_same_selection(cls, engine, k, balance, objective):
    sig = noisy_signals(seed=k or 0)
    params = {"tau": 0.9, "k": k, "balance": balance, "objective": objective, "engine": engine}
    graph = build_graph(sig.embeddings, 0.9, k=k)
    sel = cls(**params)
    for fraction in (0.1, 0.3, 0.6, 1.0):
        assert_same_selection(sel.select(sig, fraction, graph=graph), cls(**params).select(sig, fraction))


@pytest.mark.parametrize("cls", [Prune4ReL, Prune4ReLAgree])
def test_one_graph_serves_both_selectors_and_graph_for_builds_it(cls):
    sig = noisy_signals(seed=7)
    graph = Prune4ReL(tau=0.85).graph_for(sig)
    assert graph is not None and (graph.tau, graph.backend, graph.k) == (0.85, "graph", None)
    for fraction in (0.2, 0.5):
        reused = cls(tau=0.85).select(sig, fraction, graph=graph)
        assert_same_selection(reused, cls(tau=0.85).select(sig, fraction))
    assert Prune4ReL(backend="dense").graph_for(sig) is None


@pytest.mark.parametrize("cls", [Prune4ReL, Prune4ReLAgree])
def test_prebuilt_graph_with_a_target_degree(cls):
    sig = noisy_signals(seed=3, n=120)
    tau = resolve_tau(sig.embeddings, 0.975, 8.0)
    graph = build_graph(sig.embeddings, tau)
    sel = cls(target_degree=8.0)
    assert_same_selection(sel.select(sig, 0.4, graph=graph), cls(target_degree=8.0).select(sig, 0.4))
    with pytest.raises(GraphMismatchError, match=r"calibrated to target_degree=8\.0"):
        sel.select(sig, 0.4, graph=build_graph(sig.embeddings, 0.975))


@pytest.mark.parametrize("cls", [Prune4ReL, Prune4ReLAgree])
def test_prebuilt_faiss_graph(cls):
    pytest.importorskip("faiss")
    sig = noisy_signals(seed=5)
    params = {"tau": 0.9, "backend": "faiss", "index": "flat", "k": 4}
    graph = build_graph(sig.embeddings, 0.9, backend="faiss", k=4, index="flat")
    assert_same_selection(cls(**params).select(sig, 0.3, graph=graph), cls(**params).select(sig, 0.3))


@pytest.mark.parametrize("cls", [Prune4ReL, Prune4ReLAgree])
def test_a_graph_that_does_not_fit_is_a_clear_error(cls):
    sig = noisy_signals(seed=1)
    cases = [
        ({}, build_graph(sig.embeddings[:-1], 0.9), "89 nodes"),
        ({}, build_graph(sig.embeddings, 0.8), "tau=0.8"),
        ({}, build_graph(sig.embeddings, 0.9, k=2), "k=2"),
        ({"k": 2}, build_graph(sig.embeddings, 0.9), "k=None"),
        ({"backend": "graph", "k": 64}, build_graph(sig.embeddings, 0.9, k=64), None),
        ({"backend": "dense"}, build_graph(sig.embeddings, 0.9), "backend='dense'"),
        ({}, exact_graph(sig.embeddings, 0.9), "does not record how it was built"),
        ({}, "graph.npz", "must be a CSRGraph"),
    ]
    for params, graph, message in cases:
        sel = cls(tau=0.9, **params)
        if message is None:
            sel.select(sig, 0.5, graph=graph)
            continue
        with pytest.raises(GraphMismatchError, match=message):
            sel.select(sig, 0.5, graph=graph)


def test_a_faiss_graph_for_an_exact_selector_is_refused_but_auto_takes_any_backend():
    pytest.importorskip("faiss")
    sig = noisy_signals(seed=2)
    faiss_graph = build_graph(sig.embeddings, 0.9, backend="faiss", index="flat")
    with pytest.raises(GraphMismatchError, match="backend='faiss'"):
        Prune4ReL(tau=0.9, backend="graph", k=64).select(sig, 0.5, graph=faiss_graph)
    sel = Prune4ReL(tau=0.9).select(sig, 0.5, graph=faiss_graph)
    assert str(sel.extras["backend"]) == "faiss"
