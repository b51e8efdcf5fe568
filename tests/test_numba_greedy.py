"""The compiled (numba) lazy greedy picks exactly what the Python reference engine picks."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import softmax
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import oracle_select

from prune4rel import Signals
from prune4rel.neighbors import GraphRows, exact_graph
from prune4rel.selection import Prune4ReL
from prune4rel.selection.greedy import lazy_greedy

pytest.importorskip("numba")

from prune4rel.selection.greedy_numba import compiled_lazy_greedy, full_initial_gains


def both(graph, conf, labels, budget, **kw):
    ref = lazy_greedy(GraphRows(graph), conf, labels, budget, **kw)
    got = compiled_lazy_greedy(graph, conf, labels, budget, **kw)
    return ref, got


def assert_same(ref, got, objective: str) -> None:
    """Bit for bit: picks, gains (full: recomputed with numpy's tanh) and N(x; S)."""
    np.testing.assert_array_equal(got.indices, ref.indices)
    np.testing.assert_array_equal(got.gains, ref.gains)
    np.testing.assert_array_equal(got.neighborhood_confidence, ref.neighborhood_confidence)


graphs = st.builds(
    dict,
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 40),
    dim=st.integers(1, 4),
    classes=st.integers(1, 4),
    tau=st.sampled_from([0.9, 0.7, 0.3]),
    k=st.one_of(st.none(), st.integers(0, 4)),
)


def make(seed, n, dim, classes, tau, k, duplicates=False):
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, dim))
    if duplicates and n > 2:
        emb[rng.integers(0, n, size=n // 3)] = emb[0]
    conf = rng.uniform(0.05, 1.0, size=n)
    if duplicates:
        conf = np.round(conf, 1)  # exact ties between scores
    labels = rng.integers(0, classes, size=n)
    return exact_graph(emb, tau, k), conf, labels


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    g=graphs,
    objective=st.sampled_from(["published", "full"]),
    balance=st.booleans(),
    eta=st.sampled_from([1.0, 0.5, 3.0]),
    duplicates=st.booleans(),
    data=st.data(),
)
def test_same_picks_as_python_engine_on_random_graphs(g, objective, balance, eta, duplicates, data):
    graph, conf, labels = make(**g, duplicates=duplicates)
    budget = data.draw(st.integers(1, graph.n))
    ref, got = both(graph, conf, labels, budget, eta=eta, objective=objective, balance=balance)
    assert_same(ref, got, objective)


@settings(max_examples=40, deadline=None)
@given(g=graphs, objective=st.sampled_from(["published", "full"]), balance=st.booleans())
def test_budget_n_selects_everything_in_reference_order(g, objective, balance):
    graph, conf, labels = make(**g)
    ref, got = both(graph, conf, labels, graph.n, objective=objective, balance=balance)
    assert sorted(got.indices.tolist()) == list(range(graph.n))
    assert_same(ref, got, objective)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 30),
    objective=st.sampled_from(["published", "full"]),
    data=st.data(),
)
def test_matches_the_oracle(seed, n, objective, data):
    rng = np.random.default_rng(seed)
    classes = data.draw(st.integers(1, 3))
    sig = Signals(
        labels=rng.integers(0, classes, size=n),
        probs=softmax(rng.normal(size=(n, classes)) * 2),
        embeddings=rng.normal(size=(n, 3)),
    )
    balance = data.draw(st.booleans())
    budget = data.draw(st.integers(1, n))
    sel = Prune4ReL(tau=0.8, objective=objective, balance=balance, engine="numba").select(sig, budget)
    assert str(sel.extras["engine"]) == "numba"
    picks, gains, nbr, *_ = oracle_select(
        sig.embeddings, sig.probs, sig.labels, budget, tau=0.8, balance=balance, objective_kind=objective
    )
    np.testing.assert_array_equal(sel.indices, picks)
    np.testing.assert_allclose(sel.gains, gains, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(sel.extras["neighborhood_confidence"], nbr, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("objective", ["published", "full"])
def test_one_class(objective):
    graph, conf, labels = make(seed=1, n=30, dim=2, classes=1, tau=0.7, k=None)
    for budget in (1, 17, 30):
        ref, got = both(graph, conf, labels, budget, objective=objective)
        assert_same(ref, got, objective)


@pytest.mark.parametrize("objective", ["published", "full"])
def test_round_robin_switch_case(objective):
    # class sizes 1, 10, 10, 2 (see test_prune4rel): class 0 empties first (m = 1), then
    # class 3 empties and retargets class 1, which has given 2 > 1.5 * m picks -> switch
    labels = np.array([0] + [1] * 10 + [2] * 10 + [3] * 2)
    conf = np.where(labels == 2, 0.9, np.where(labels == 1, 0.6, 0.7)) - np.arange(23) * 1e-3
    emb = np.random.default_rng(0).normal(size=(23, 64))
    graph = exact_graph(emb, 0.975)
    ref, got = both(graph, conf, labels, 14, objective=objective)
    assert labels[got.indices].tolist() == [0, 1, 2, 3, 2, 3, 1, 2, 1, 2, 2, 2, 2, 2]
    assert_same(ref, got, objective)
    # a clustered graph where the switch happens with stale heap entries
    rng = np.random.default_rng(5)
    emb = np.repeat(rng.normal(size=(4, 8)), 6, axis=0)[:23] + 0.3 * rng.normal(size=(23, 8))
    graph = exact_graph(emb, 0.8)
    for budget in (9, 15, 23):
        ref, got = both(graph, conf, labels, budget, objective=objective)
        assert_same(ref, got, objective)


def test_initial_full_gains_match_graph_rows_bit_for_bit():
    graph, conf, _ = make(seed=3, n=40, dim=2, classes=2, tau=0.5, k=3)
    expected = GraphRows(graph).initial_full_gains(conf, 0.7)
    for chunk in (1, 7, 1 << 22):
        np.testing.assert_array_equal(full_initial_gains(graph.transpose(), conf, 0.7, chunk), expected)


def test_engines_agree_in_the_selector_and_bad_engine_is_named():
    rng = np.random.default_rng(0)
    sig = Signals(
        labels=rng.integers(0, 3, size=60),
        probs=softmax(rng.normal(size=(60, 3))),
        embeddings=np.repeat(rng.normal(size=(6, 5)), 10, axis=0) + 0.2 * rng.normal(size=(60, 5)),
    )
    py = Prune4ReL(tau=0.9, engine="python").select(sig, 25)
    nb = Prune4ReL(tau=0.9).select(sig, 25)
    assert str(py.extras["engine"]) == "python" and str(nb.extras["engine"]) == "numba"
    np.testing.assert_array_equal(py.indices, nb.indices)
    np.testing.assert_array_equal(py.gains, nb.gains)
    dense = Prune4ReL(tau=0.9, backend="dense", engine="numba").select(sig, 25)
    assert str(dense.extras["engine"]) == "python"  # no compiled dense engine
    np.testing.assert_array_equal(dense.indices, nb.indices)
    with pytest.raises(ValueError, match="engine"):
        Prune4ReL(engine="fast")


def test_bad_arguments_name_the_argument():
    graph, conf, labels = make(seed=0, n=10, dim=2, classes=2, tau=0.5, k=None)
    with pytest.raises(ValueError, match="objective"):
        compiled_lazy_greedy(graph, conf, labels, 3, objective="nope")
    with pytest.raises(ValueError, match="budget"):
        compiled_lazy_greedy(graph, conf, labels, 11)
    with pytest.raises(ValueError, match="conf"):
        compiled_lazy_greedy(graph, conf[:5], labels, 3)


def test_full_gains_replay_is_chunk_independent():
    from prune4rel.selection.greedy_numba import _numpy_full_gains

    graph, conf, labels = make(seed=8, n=40, dim=2, classes=2, tau=0.4, k=None)
    ref = lazy_greedy(GraphRows(graph), conf, labels, 30, objective="full", eta=0.5)
    t = graph.transpose()
    for chunk in (1, 5, 64, 1 << 22):
        got = _numpy_full_gains(t.indptr, t.indices, t.sims, conf, ref.indices, 0.5, chunk_edges=chunk)
        np.testing.assert_array_equal(got, ref.gains)
