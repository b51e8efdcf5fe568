"""Prune4ReLAgree ("prune4rel_agree"): hand-computed cases, a brute-force oracle, real signals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import softmax
from oracle import conf_of, oracle_select

from prune4rel import Signals
from prune4rel.selection import Prune4ReL, Prune4ReLAgree, get_selector, selector_class
from prune4rel.selection.prune4rel_variants import agreement_confidence, given_label_probability


# ---------------------------------------------------------------------- brute force
def brute_force_agree(emb, probs, labels, budget, *, tau, eta, objective, balance, confidence="max_prob"):
    """The shared O(n^2) oracle with conf = c * [p_y is a top probability] and ties (within
    1e-12) going to the larger p_y, then the lower index."""
    p = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    p_y = p[np.arange(labels.shape[0]), labels]
    conf = np.where(p_y >= p.max(axis=1), conf_of(p, confidence), 0.0)
    picks, gains, big_n, _, conf = oracle_select(
        emb, p, labels, budget, tau=tau, eta=eta, balance=balance, objective_kind=objective,
        conf=conf, prefer=p_y,
    )
    return picks, gains, big_n, conf


def random_signals(seed: int, n: int, dim: int, classes: int, agree_share: float = 0.5) -> Signals:
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, dim))
    probs = softmax(rng.normal(size=(n, classes)) * 2)
    labels = rng.integers(0, classes, size=n)
    agree = rng.random(n) < agree_share
    labels[agree] = probs[agree].argmax(axis=1)
    return Signals(labels=labels, probs=probs, embeddings=emb)


# ---------------------------------------------------------------------- hand-computed cases
def test_hand_case_isolated_examples():
    # five orthogonal embeddings: nobody is anybody else's neighbour
    emb = np.eye(5)
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4], [0.4, 0.6]])
    labels = np.array([0, 0, 1, 1, 0])
    sig = Signals(labels=labels, probs=probs, embeddings=emb)
    # conf: x0 agrees (0.9), x1 disagrees, x2 agrees (0.7), x3 and x4 disagree
    np.testing.assert_allclose(agreement_confidence(probs, labels), [0.9, 0.0, 0.7, 0.0, 0.0])
    sel = Prune4ReLAgree().select(sig, 5)
    # round-robin 0,1,0,1,0: x0 (tanh .9), x2 (tanh .7), then zero gains: class 0 by p_y
    # (x4: 0.4 before x1: 0.2), class 1: x3, class 0: x1
    np.testing.assert_array_equal(sel.indices, [0, 2, 4, 3, 1])
    np.testing.assert_allclose(sel.gains, [math.tanh(0.9), math.tanh(0.7), 0, 0, 0], atol=1e-12)
    # ties by index instead: x1 before x4
    np.testing.assert_array_equal(Prune4ReLAgree(fill="index").select(sig, 5).indices, [0, 2, 1, 3, 4])
    # the published selector takes the confidently mis-labelled x1 third
    np.testing.assert_array_equal(Prune4ReL().select(sig, 3).indices, [0, 2, 1])


@pytest.mark.parametrize("objective", ["published", "full"])
def test_hand_case_with_neighbours(objective):
    # x0 and x1 share an embedding (sim 1); x2 is alone and its prediction disagrees
    emb = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    probs = np.array([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    labels = np.zeros(3, dtype=np.int64)
    sig = Signals(labels=labels, probs=probs, embeddings=emb)
    sel = Prune4ReLAgree(objective=objective).select(sig, 3)
    np.testing.assert_array_equal(sel.indices, [0, 1, 2])
    second = math.tanh(1.4) - math.tanh(0.8)
    expected = {
        "published": [math.tanh(0.8), second, 0.0],
        "full": [2 * math.tanh(0.8), 2 * second, 0.0],
    }[objective]
    np.testing.assert_allclose(sel.gains, expected, rtol=1e-6)
    np.testing.assert_allclose(sel.extras["neighborhood_confidence"], [1.4, 1.4, 0.0], rtol=1e-6)
    np.testing.assert_allclose(sel.objective, 2 * math.tanh(1.4), rtol=1e-6)
    np.testing.assert_allclose(sel.extras["confidence"], [0.8, 0.6, 0.0])


# ---------------------------------------------------------------------- oracle
@pytest.mark.parametrize("seed", range(24))
def test_matches_brute_force(seed):
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(2, 40))
    sig = random_signals(seed, n, dim=int(rng.integers(2, 5)), classes=int(rng.integers(1, 4)))
    cfg = {
        "tau": float(rng.choice([0.975, 0.9, 0.7])),
        "eta": float(rng.choice([1.0, 0.5, 3.0])),
        "objective": str(rng.choice(["published", "full"])),
        "balance": bool(rng.integers(0, 2)),
    }
    budget = int(rng.integers(1, n + 1))
    backend = "graph" if seed % 2 else "dense"
    sel = Prune4ReLAgree(backend=backend, **cfg).select(sig, budget)
    picks, gains, big_n, conf = brute_force_agree(sig.embeddings, sig.probs, sig.labels, budget, **cfg)
    np.testing.assert_array_equal(sel.indices, picks)
    np.testing.assert_allclose(sel.gains, gains, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(sel.extras["neighborhood_confidence"], big_n, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(sel.extras["confidence"], conf)


def test_margin_confidence_matches_brute_force():
    sig = random_signals(7, 30, dim=3, classes=3)
    sel = Prune4ReLAgree(confidence="margin", tau=0.9).select(sig, 20)
    picks, *_ = brute_force_agree(sig.embeddings, sig.probs, sig.labels, 20, tau=0.9, eta=1.0,
                                  objective="published", balance=True, confidence="margin")
    np.testing.assert_array_equal(sel.indices, picks)


def test_equals_published_when_every_prediction_agrees():
    rng = np.random.default_rng(3)
    probs = softmax(rng.normal(size=(40, 3)) * 2)
    sig = Signals(labels=probs.argmax(axis=1), probs=probs, embeddings=rng.normal(size=(40, 3)))
    for objective in ("published", "full"):
        ours = Prune4ReLAgree(fill="index", tau=0.9, objective=objective).select(sig, 25)
        theirs = Prune4ReL(tau=0.9, objective=objective).select(sig, 25)
        np.testing.assert_array_equal(ours.indices, theirs.indices)
        np.testing.assert_allclose(ours.objective, theirs.objective)


# ---------------------------------------------------------------------- contract
def test_registry_and_published_variant_untouched():
    assert selector_class("prune4rel_agree") is Prune4ReLAgree
    assert selector_class("prune4rel") is Prune4ReL
    assert "fill" not in Prune4ReL().get_params()
    sel = get_selector("prune4rel_agree", tau=0.9).select(random_signals(0, 20, 3, 2), 0.5)
    assert sel.method == "prune4rel_agree" and sel.params["fill"] == "given_prob"
    assert len(np.unique(sel.indices)) == 10


def test_ignores_clean_labels():
    sig = random_signals(5, 30, 3, 3)
    with_clean = Signals(labels=sig.labels, probs=sig.probs, embeddings=sig.embeddings,
                         clean_labels=np.zeros(30, dtype=np.int64))
    a = Prune4ReLAgree(tau=0.9).select(sig, 15).indices
    b = Prune4ReLAgree(tau=0.9).select(with_clean, 15).indices
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"fill": "random"}, "fill"), ({"eta": 0.0}, "eta"), ({"confidence": "entropy"}, "confidence"),
     ({"objective": "x"}, "objective"), ({"backend": "gpu"}, "backend"), ({"k": -1}, "k"),
     ({"tau": 1.5}, "tau")],
)
def test_bad_parameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Prune4ReLAgree(**kwargs)


def test_given_label_probability_and_top_ties():
    probs = np.array([[0.5, 0.5], [0.2, 0.8]])
    labels = np.array([1, 0])
    np.testing.assert_allclose(given_label_probability(probs, labels), [0.5, 0.2])
    # a tie for the top counts as agreement
    np.testing.assert_allclose(agreement_confidence(probs, labels), [0.5, 0.0])


# ---------------------------------------------------------------------- real signals
def test_real_worst_signals_subset_is_cleaner(shared_data):
    raw = np.load(shared_data / "cifar10n_worst_signals_smallcnn.npz")
    clean = np.load(shared_data / "cifar10n_labels.npz")["clean_label"][:8000]
    sig = Signals(labels=raw["labels"][:8000], probs=raw["probs"][:8000], embeddings=raw["embeddings"][:8000])
    noise = {}
    for cls in (Prune4ReL, Prune4ReLAgree):
        idx = cls().select(sig, 0.2).indices
        noise[cls.name] = float(np.mean(sig.labels[idx] != clean[idx]))
    base = float(np.mean(sig.labels != clean))
    assert noise["prune4rel"] > 0.3  # the published greedy keeps about the base rate
    assert noise["prune4rel_agree"] < 0.2 < base
