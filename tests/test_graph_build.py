"""build_graph: one entry point over the backends, a graph that records how it was built."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import similarity_matrix

from prune4rel.neighbors import (
    GRAPH_BACKENDS,
    GraphMismatchError,
    build_graph,
    check_graph,
    exact_graph,
    faiss_graph,
)
from prune4rel.validation import ParameterError


def embeddings(seed: int = 0, n: int = 40, dim: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim))


def same_arrays(a, b) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("indptr", "indices", "sims"))


@pytest.mark.parametrize("k", [None, 0, 3])
def test_exact_backend_records_tau_backend_and_k(k):
    emb = embeddings()
    g = build_graph(emb, 0.8, k=k)
    assert (g.tau, g.backend, g.k) == (0.8, "graph", k)
    assert same_arrays(g, exact_graph(emb, 0.8, k))
    assert g.symmetric == (k is None)


def test_faiss_backend_records_its_default_k_and_takes_its_options():
    pytest.importorskip("faiss")
    emb = embeddings(n=60)
    g = build_graph(emb, 0.7, backend="faiss", index="flat")
    assert (g.backend, g.k) == ("faiss", 64)
    assert same_arrays(g, faiss_graph(emb, 0.7, 64, index="flat"))
    g5 = build_graph(emb, 0.7, backend="faiss", k=5, index="ivf", nlist=1, nprobe=1)
    assert g5.k == 5 and same_arrays(g5, faiss_graph(emb, 0.7, 5, index="ivf", nlist=1, nprobe=1))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"tau": None}, "tau"),
        ({"tau": 1.0}, "tau"),
        ({"tau": "0.9"}, "tau"),
        ({"backend": "torchy"}, "backend"),
        ({"backend": None}, "backend"),
        ({"k": -1}, "k"),
        ({"k": True}, "k"),
        ({"max_edges": 0}, "max_edges"),
        ({"max_edges": -5}, "max_edges"),
        ({"progress": "maybe"}, "progress"),
        ({"device": "tpu"}, "device"),
        ({"prune": "some"}, "prune"),
        ({"nprobe": 4}, "nprobe"),  # a faiss option, not one of the exact backend's
        ({"backend": "faiss", "k": 0}, "k"),
        ({"backend": "faiss", "index": "lsh"}, "index"),
        ({"backend": "faiss", "nprobe": 0}, "nprobe"),
        ({"backend": "faiss", "symmetrize": "yes"}, "symmetrize"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, name):
    args = {"tau": 0.9, **kwargs}
    with pytest.raises(ParameterError, match=f"`{name}`"):
        build_graph(embeddings(), **args)


def test_every_backend_entry_is_complete():
    for name, entry in GRAPH_BACKENDS.items():
        assert callable(entry.build), name
        assert entry.default_k is None or entry.default_k >= entry.min_k


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 25), k=st.one_of(st.none(), st.integers(0, 3)))
def test_permute_is_the_graph_with_renamed_nodes(seed, n, k):
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, 2))
    emb[rng.integers(0, n, size=n // 3)] = emb[0]  # duplicates: ties
    g = build_graph(emb, 0.7, k=k)
    order = rng.permutation(n)
    p = g.permute(order)
    dense = g.to_scipy().toarray()
    np.testing.assert_array_equal(p.to_scipy().toarray(), dense[order][:, order])
    assert (p.tau, p.backend, p.k, p.symmetric) == (g.tau, g.backend, g.k, g.symmetric)
    assert all(np.all(np.diff(p.row(x)[0]) > 0) for x in range(n))  # rows stay sorted
    # the transposed graph keeps the record too
    t = g.transpose()
    assert (t.backend, t.k) == (g.backend, g.k)
    np.testing.assert_array_equal(t.to_scipy().toarray(), dense.T)


def test_permute_of_an_uncapped_graph_equals_the_graph_of_permuted_embeddings():
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(50, 4))
    order = rng.permutation(50)
    permuted = build_graph(emb, 0.8).permute(order)
    np.testing.assert_allclose(
        permuted.to_scipy().toarray(), similarity_matrix(emb[order], 0.8), atol=1e-6
    )


@pytest.mark.parametrize("order", [[0, 1, 1], [0, 1], [0, 1, 3], [[0, 1, 2]]])
def test_permute_refuses_what_is_not_a_permutation(order):
    g = build_graph(embeddings(n=3), 0.9)
    with pytest.raises(ValueError, match="permutation"):
        g.permute(np.array(order))


def test_check_graph_names_what_differs():
    emb = embeddings()
    g = build_graph(emb, 0.8, k=2)
    check_graph(g, 40, 0.8, 2)
    check_graph(g, 40, 0.8, 2, backend="graph")
    cases = [
        ((g, 39, 0.8, 2), {}, "39"),
        ((g, 40, 0.9, 2), {}, "tau=0.8"),
        ((g, 40, 0.9, 2), {"tau_from": " (calibrated)"}, "calibrated"),
        ((g, 40, 0.8, None), {}, "k=2"),
        ((g, 40, 0.8, 3), {}, "k=2"),
        ((g, 40, 0.8, 2), {"backend": "faiss"}, "backend='graph'"),
        ((exact_graph(emb, 0.8, 2), 40, 0.8, 2), {}, "does not record how it was built"),
        (("graph", 40, 0.8, 2), {}, "must be a CSRGraph"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(GraphMismatchError, match=message):
            check_graph(*args, **kwargs)
