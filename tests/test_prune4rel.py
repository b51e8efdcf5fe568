"""Prune4ReL against the brute-force oracle, hand-computed cases and the objective's properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import softmax
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import objective as oracle_objective
from oracle import oracle_select, similarity_matrix

import prune4rel
from prune4rel import Signals
from prune4rel.selection import Prune4ReL
from prune4rel.selection.greedy import RoundRobin
from prune4rel.selection.prune4rel_selector import confidence_scores, neighborhood_objective


def random_problem(seed: int, n: int, dim: int, classes: int, duplicates: int = 0, zeros: int = 0):
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, dim))
    for _ in range(duplicates):
        a, b = rng.integers(0, n, size=2)
        emb[b] = emb[a]
    emb[rng.choice(n, size=min(zeros, n), replace=False)] = 0.0
    probs = softmax(rng.normal(size=(n, classes)) * 2)
    labels = rng.integers(0, classes, size=n)
    return Signals(labels=labels, probs=probs, embeddings=emb)


problems = st.builds(
    dict,
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 36),
    dim=st.integers(1, 5),
    classes=st.integers(1, 4),
)
configs = st.builds(
    dict,
    tau=st.sampled_from([0.975, 0.9, 0.7, 0.3]),
    eta=st.sampled_from([1.0, 0.5, 3.0]),
    confidence=st.sampled_from(["max_prob", "margin"]),
    balance=st.booleans(),
    objective=st.sampled_from(["published", "full"]),
)


def oracle_for(sig, budget, cfg):
    """The brute-force oracle on ``sig`` with a hypothesis-drawn selector config."""
    return oracle_select(
        sig.embeddings,
        sig.probs,
        sig.labels,
        budget,
        tau=cfg["tau"],
        eta=cfg["eta"],
        confidence=cfg["confidence"],
        balance=cfg["balance"],
        objective_kind=cfg["objective"],
    )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=problems, cfg=configs, backend=st.sampled_from(["graph", "dense"]), data=st.data())
def test_matches_oracle_on_generic_inputs(problem, cfg, backend, data):
    sig = random_problem(**problem)
    budget = data.draw(st.integers(1, sig.n))
    sel = Prune4ReL(backend=backend, **cfg).select(sig, budget)
    picks, gains, nbr_conf, w, conf = oracle_for(sig, budget, cfg)
    np.testing.assert_array_equal(sel.indices, picks)
    np.testing.assert_allclose(sel.gains, gains, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(sel.extras["neighborhood_confidence"], nbr_conf, rtol=1e-6, atol=1e-9)
    assert sel.objective == pytest.approx(oracle_objective(w, conf, picks, cfg["eta"]), rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    problem=problems,
    k=st.integers(0, 4),
    objective=st.sampled_from(["published", "full"]),
    balance=st.booleans(),
    data=st.data(),
)
def test_knn_capped_graph_matches_oracle(problem, k, objective, balance, data):
    sig = random_problem(**problem)
    budget = data.draw(st.integers(1, sig.n))
    sel = Prune4ReL(tau=0.6, k=k, objective=objective, balance=balance, backend="graph").select(sig, budget)
    picks, gains, *_ = oracle_select(
        sig.embeddings, sig.probs, sig.labels, budget, tau=0.6, k=k, balance=balance, objective_kind=objective
    )
    np.testing.assert_array_equal(sel.indices, picks)
    np.testing.assert_allclose(sel.gains, gains, rtol=1e-6, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    problem=problems,
    duplicates=st.integers(1, 6),
    zeros=st.integers(1, 4),
    cfg=configs,
    backend=st.sampled_from(["graph", "dense"]),
    data=st.data(),
)
def test_duplicates_and_zero_vectors(problem, duplicates, zeros, cfg, backend, data):
    """With duplicate rows exact float ties may pick another member of a tie: compare values."""
    sig = random_problem(**problem, duplicates=duplicates, zeros=zeros)
    budget = data.draw(st.integers(1, sig.n))
    sel = Prune4ReL(backend=backend, **cfg).select(sig, budget)
    _, gains, _, _w, conf = oracle_for(sig, budget, cfg)
    assert len(set(sel.indices.tolist())) == budget
    np.testing.assert_allclose(sel.gains, gains, rtol=1e-6, atol=1e-9)
    nbr = sel.extras["neighborhood_confidence"]
    assert np.all(np.isfinite(nbr))
    zero_rows = np.flatnonzero(np.linalg.norm(sig.embeddings, axis=1) == 0)
    for z in zero_rows:  # a zero vector only ever counts itself
        expected = conf[z] if z in set(sel.indices.tolist()) else 0.0
        assert nbr[z] == pytest.approx(expected)


def test_one_class_and_full_budget_select_everything():
    sig = random_problem(seed=3, n=25, dim=3, classes=1)
    for objective in ("published", "full"):
        sel = Prune4ReL(objective=objective).select(sig, 1.0)
        assert sorted(sel.indices.tolist()) == list(range(25))
        picks, *_ = oracle_select(sig.embeddings, sig.probs, sig.labels, 25, objective_kind=objective)
        np.testing.assert_array_equal(sel.indices, picks)


def five_points():
    """e0 isolated (conf .9); e1, e2, e3 a tight cluster (5 and 10 degrees apart); e4 = 0."""
    deg = math.pi / 180
    emb = np.array(
        [
            [0.0, 1.0],
            [1.0, 0.0],
            [math.cos(5 * deg), math.sin(5 * deg)],
            [math.cos(-5 * deg), math.sin(-5 * deg)],
            [0.0, 0.0],
        ]
    )
    top = np.array([0.9, 0.6, 0.65, 0.55, 0.5])
    probs = np.stack([top, 1 - top], axis=1)
    return Signals(labels=np.zeros(5, dtype=int), probs=probs, embeddings=emb)


def test_hand_computed_published_objective():
    # N = 0: scores are tanh(conf) -> pick 0 (conf .9). Point 0 has no neighbour but itself,
    # so the cluster's scores are unchanged and the next best is 2 (conf .65).
    sel = Prune4ReL(balance=False).select(five_points(), 2)
    assert sel.indices.tolist() == [0, 2]
    assert sel.gains == pytest.approx([math.tanh(0.9), math.tanh(0.65)])
    s5 = 0.5 + 0.5 * math.cos(5 * math.pi / 180)  # 1-2 and 1-3 are 5 degrees apart
    s10 = 0.5 + 0.5 * math.cos(10 * math.pi / 180)  # 2-3 are 10 degrees apart
    expected_n = [0.9, s5 * 0.65, 0.65, s10 * 0.65, 0.0]
    np.testing.assert_allclose(sel.extras["neighborhood_confidence"], expected_n, rtol=1e-6)
    assert sel.objective == pytest.approx(sum(math.tanh(v) for v in expected_n), rel=1e-6)
    assert s10 > 0.975  # 2 and 3 are neighbours too (10 degrees < 18.19)


def test_hand_computed_full_objective():
    s5 = 0.5 + 0.5 * math.cos(5 * math.pi / 180)
    s10 = 0.5 + 0.5 * math.cos(10 * math.pi / 180)
    t = math.tanh
    # singleton gains: 2 reaches {1 (5 deg), 2, 3 (10 deg)} and beats 1, which reaches
    # {1, 2 (5 deg), 3 (5 deg)} with a lower confidence, and the isolated 0 (tanh .9).
    g2 = t(0.65) + t(s5 * 0.65) + t(s10 * 0.65)
    g1 = t(0.6) + 2 * t(s5 * 0.6)
    assert g2 > g1 > t(0.9)
    # after 2: N1 = s5*.65, N2 = .65, N3 = s10*.65; the gain of 1 still beats tanh(.9)
    n1, n2, n3 = s5 * 0.65, 0.65, s10 * 0.65
    gain1 = (t(n1 + 0.6) - t(n1)) + (t(n2 + s5 * 0.6) - t(n2)) + (t(n3 + s5 * 0.6) - t(n3))
    assert gain1 > t(0.9)
    sel = Prune4ReL(balance=False, objective="full").select(five_points(), 2)
    assert sel.indices.tolist() == [2, 1]
    assert sel.gains == pytest.approx([g2, gain1], rel=1e-6)


def test_round_robin_switches_to_unconstrained_after_the_published_rule():
    # class sizes 1, 10, 10, 2; class 2 is always more confident than class 1.
    labels = np.array([0] + [1] * 10 + [2] * 10 + [3] * 2)
    top = np.where(labels == 2, 0.9, np.where(labels == 1, 0.6, 0.7))
    top = top - np.arange(23) * 1e-3  # no ties
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(23, 64))  # near-orthogonal: nobody has neighbours at tau .975
    probs = np.column_stack([top] + [(1 - top) / 3] * 3)
    sig = Signals(labels=labels, probs=probs, embeddings=emb)
    sel = Prune4ReL().select(sig, 14)
    got = labels[sel.indices].tolist()
    # picks 0-3 go round the four classes; pick 4 finds class 0 empty (m = 1), retargets
    # active[4 % 3] = class 2; picks 5-7 -> classes 3, 1, 2; pick 8 finds class 3 empty and
    # retargets class 1, which has given 2 > 1.5 * m picks: it still gives this pick, then the
    # rest are unconstrained and all go to the more confident class 2.
    assert got == [0, 1, 2, 3, 2, 3, 1, 2, 1, 2, 2, 2, 2, 2]
    schedule = RoundRobin(labels, balance=True)
    targets = []
    for step, cls in enumerate(got):
        targets.append(schedule.target(step))
        schedule.record(cls)
    assert targets[:9] == [0, 1, 2, 3, 2, 3, 1, 2, 1] and set(targets[9:]) == {None}


@settings(max_examples=40, deadline=None)
@given(problem=problems, data=st.data())
def test_objective_is_monotone_and_submodular(problem, data):
    sig = random_problem(**problem)
    n = sig.n
    a = data.draw(st.sets(st.integers(0, n - 1)))
    b = a | data.draw(st.sets(st.integers(0, n - 1)))
    x = data.draw(st.integers(0, n - 1))
    f = lambda s: neighborhood_objective(sig, np.array(sorted(s), dtype=int), tau=0.9)[0]  # noqa: E731
    assert f(a) <= f(b) + 1e-12  # monotone
    if x not in b:  # diminishing returns: the gain of x shrinks on the larger set
        assert f(a | {x}) - f(a) >= f(b | {x}) - f(b) - 1e-12
    w = similarity_matrix(sig.embeddings, 0.9)
    assert f(b) == pytest.approx(oracle_objective(w, confidence_scores(sig.probs), sorted(b), 1.0))


def test_full_objective_is_at_least_as_good_as_published_on_clustered_data():
    rng = np.random.default_rng(1)
    centers = rng.normal(size=(6, 8))
    emb = centers[rng.integers(0, 6, 300)] + 0.15 * rng.normal(size=(300, 8))
    sig = Signals(labels=rng.integers(0, 3, 300), probs=softmax(rng.normal(size=(300, 3))), embeddings=emb)
    full = Prune4ReL(objective="full", balance=False).select(sig, 30)
    published = Prune4ReL(objective="published", balance=False).select(sig, 30)
    assert full.objective >= published.objective


def test_top_level_select_returns_indices():
    sig = random_problem(seed=5, n=40, dim=4, classes=3)
    idx = prune4rel.select(sig.embeddings, sig.probs, sig.labels, 0.25)
    np.testing.assert_array_equal(idx, Prune4ReL().select(sig, 0.25).indices)
    assert idx.shape == (10,)
    uni = prune4rel.select(sig.embeddings, sig.probs, sig.labels, 0.25, method="uniform", seed=1)
    assert len(set(uni.tolist())) == 10


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tau": 1.0}, "tau"),
        ({"tau": -0.1}, "tau"),
        ({"tau": float("nan")}, "tau"),
        ({"eta": 0.0}, "eta"),
        ({"eta": float("inf")}, "eta"),
        ({"confidence": "entropy"}, "confidence"),
        ({"objective": "exact"}, "objective"),
        ({"backend": "gpu"}, "backend"),
        ({"k": -1}, "k"),
        ({"k": 3, "backend": "dense"}, "k"),
        ({"tau": None}, "tau"),
        ({"eta": True}, "eta"),
        ({"balance": "no"}, "balance"),
        ({"max_edges": -5}, "max_edges"),
        ({"progress": "maybe"}, "progress"),
        ({"index_params": {"foo": 1}}, "index_params.foo"),
    ],
)
def test_bad_hyper_parameters_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Prune4ReL(**kwargs)


@pytest.mark.parametrize("budget", [0, -1, 41, 0.0, 1.5, -0.2, float("nan"), True, "10", None])
def test_bad_budget_names_the_argument(budget):
    sig = random_problem(seed=0, n=40, dim=3, classes=2)
    with pytest.raises(ValueError, match="budget"):
        Prune4ReL().select(sig, budget)


def test_auto_backend_falls_back_to_dense_when_the_graph_is_too_large():
    sig = random_problem(seed=0, n=30, dim=2, classes=2)
    sel = Prune4ReL(tau=0.1, max_edges=10).select(sig, 5)
    assert str(sel.extras["backend"]) == "dense"
    with pytest.raises(ValueError, match="max_edges"):
        Prune4ReL(tau=0.1, max_edges=10, backend="graph").select(sig, 5)
    np.testing.assert_array_equal(sel.indices, Prune4ReL(tau=0.1).select(sig, 5).indices)


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 12), min_size=1, max_size=5), seed=st.integers(0, 1000), data=st.data())
def test_balance_gives_round_robin_class_counts(sizes, seed, data):
    """While no class is exhausted, picks go round the classes in label order."""
    labels = np.repeat(np.arange(len(sizes)), sizes)
    rng = np.random.default_rng(seed)
    sig = Signals(
        labels=labels,
        probs=softmax(rng.normal(size=(labels.size, len(sizes)))),
        embeddings=rng.normal(size=(labels.size, 3)),
    )
    budget = data.draw(st.integers(1, len(sizes) * min(sizes)))
    sel = Prune4ReL(tau=0.9).select(sig, budget)
    got = labels[sel.indices]
    np.testing.assert_array_equal(got, np.arange(budget) % len(sizes))
