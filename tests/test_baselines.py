"""Score-based baselines against brute-force definitions, golden cases and the interface."""

from __future__ import annotations

import itertools
import math

import baseline_oracles as oracle
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from prune4rel import Signals, available_selectors, get_selector
from prune4rel.selection import MissingSignalError, class_budgets

FEW = settings(max_examples=40, deadline=None)
TOL = 1e-9

BASELINES = [
    "uniform", "small_loss", "least_confidence", "margin", "entropy", "el2n", "grand",
    "forgetting", "aum", "kcenter", "moderate", "ccs",
]  # fmt: skip
SCORE_METHODS = {
    # name: (oracle score function of the Signals, keep direction)
    "small_loss": (lambda s: oracle.mean_loss(s.losses), "lowest"),
    "least_confidence": (lambda s: oracle.least_confidence(s.probs), "highest"),
    "margin": (lambda s: oracle.margin(s.probs), "lowest"),
    "entropy": (lambda s: oracle.entropy(s.probs), "highest"),
    "el2n": (lambda s: oracle.el2n(s.probs, s.labels), "highest"),
    "grand": (lambda s: oracle.grand(s.probs, s.labels, s.embeddings), "highest"),
    "forgetting": (lambda s: oracle.forgetting(s.correct), "highest"),
    "aum": (lambda s: oracle.aum(s.margins), "highest"),
}


def make_signals(probs, labels, emb=None, **kw) -> Signals:
    probs = np.asarray(probs, dtype=np.float64)
    if emb is None:
        emb = np.zeros((probs.shape[0], 1))
    return Signals(labels=np.asarray(labels), probs=probs, embeddings=np.asarray(emb, float), **kw)


@st.composite
def signals_and_budget(draw, max_n: int = 20) -> tuple[Signals, int]:
    """Small Signals with many ties: integer-weight probs, integer embeddings, dyadic histories."""
    n = draw(st.integers(2, max_n))
    c = draw(st.integers(1, 4))
    e = draw(st.integers(1, 5))
    d = draw(st.integers(1, 3))
    weights = draw(arrays(np.int64, (n, c), elements=st.integers(0, 4)))
    weights[weights.sum(axis=1) == 0, 0] = 1
    probs = weights / weights.sum(axis=1, keepdims=True)
    labels = draw(arrays(np.int64, n, elements=st.integers(0, c - 1)))
    emb = draw(arrays(np.int64, (n, d), elements=st.integers(-3, 3))).astype(np.float64)
    losses = draw(arrays(np.int64, (e, n), elements=st.integers(0, 20))) / 4.0
    correct = draw(arrays(np.bool_, (e, n)))
    margins = draw(arrays(np.int64, (e, n), elements=st.integers(-12, 12))) / 4.0
    budget = draw(st.integers(1, n))
    sig = Signals(labels=labels, probs=probs, embeddings=emb, losses=losses, correct=correct, margins=margins)
    return sig, budget


def assert_valid_indices(idx: np.ndarray, budget: int, n: int) -> None:
    assert idx.dtype == np.int64
    assert idx.shape == (budget,)
    assert len(set(idx.tolist())) == budget
    assert idx.min() >= 0 and idx.max() < n


def assert_top_k(result, brute, keep: str, labels, budget: int, balance: bool) -> None:
    """Selection = a top-``budget`` set of ``brute`` (per class with balance), best first."""
    idx = result.indices
    n = len(brute)
    assert_valid_indices(idx, budget, n)
    sign = 1.0 if keep == "highest" else -1.0
    value = [sign * v for v in brute]  # larger is better
    groups = {0: list(range(n))}
    if balance:
        groups = {c: [i for i in range(n) if labels[i] == c] for c in set(labels.tolist())}
        wanted = class_budgets(labels, budget)
        got = {c: sum(1 for i in idx if labels[i] == c) for c in groups}
        assert got == {c: wanted[c] for c in groups}
    chosen = set(idx.tolist())
    for members in groups.values():
        sel = [value[i] for i in members if i in chosen]
        rest = [value[i] for i in members if i not in chosen]
        if sel and rest:
            assert min(sel) >= max(rest) - TOL
    ranked = [value[i] for i in idx]
    assert all(a >= b - TOL for a, b in itertools.pairwise(ranked)), "not best first"


def gains_match(gains, brute_at_idx, sentinel: float | None = None) -> None:
    for g, b in zip(gains, brute_at_idx):
        if math.isinf(b):
            assert g == sentinel
        else:
            assert g == pytest.approx(b, rel=1e-9, abs=1e-9)


# ------------------------------------------------------------------ brute force (hypothesis)
@pytest.mark.parametrize("name", sorted(SCORE_METHODS))
@FEW
@given(case=signals_and_budget(), balance=st.booleans())
def test_score_methods_match_brute_force(name, case, balance):
    sig, budget = case
    brute_fn, keep = SCORE_METHODS[name]
    brute = brute_fn(sig)
    result = get_selector(name, balance=balance).select(sig, budget)
    assert_top_k(result, brute, keep, sig.labels, budget, balance)
    sentinel = float(sig.correct.shape[0]) if name == "forgetting" else None
    gains_match(result.gains, [brute[i] for i in result.indices], sentinel)
    assert result.method == name
    assert result.extras["score"].shape == (sig.n,)


@FEW
@given(case=signals_and_budget())
def test_small_loss_probs_fallback_matches_cross_entropy(case):
    sig, budget = case
    brute = oracle.ce_loss(sig.probs, sig.labels)
    result = get_selector("small_loss", loss="probs").select(sig, budget)
    assert_top_k(result, brute, "lowest", sig.labels, budget, False)
    gains_match(result.gains, [brute[i] for i in result.indices])


@FEW
@given(case=signals_and_budget(), seed=st.integers(0, 2**31))
def test_forgetting_is_deterministic_per_seed(case, seed):
    sig, budget = case
    a = get_selector("forgetting", seed=seed).select(sig, budget)
    b = get_selector("forgetting", seed=seed).select(sig, budget)
    np.testing.assert_array_equal(a.indices, b.indices)


# ------------------------------------------------------------------ golden cases (by hand)
def test_small_loss_golden():
    # losses (E=2): ex0 (1+3)/2 = 2, ex1 (0.1+0.3)/2 = 0.2, ex2 (2+2)/2 = 2.
    # Keep the 2 smallest: ex1 (0.2), then the tie ex0/ex2 at 2 goes to the lower index: ex0.
    probs = [[0.5, 0.5], [0.9, 0.1], [1.0, 0.0]]
    losses = [[1.0, 0.1, 2.0], [3.0, 0.3, 2.0]]
    sig = make_signals(probs, [0, 0, 1], losses=losses)
    for loss in ("auto", "history"):
        r = get_selector("small_loss", loss=loss).select(sig, 2)
        assert r.indices.tolist() == [1, 0]
        np.testing.assert_allclose(r.gains, [0.2, 2.0])
    # From probs: -log p_y = [log 2 = 0.693, -log 0.9 = 0.105, -log(1e-12) = 27.63].
    for s, loss in ((sig, "probs"), (make_signals(probs, [0, 0, 1]), "auto")):
        r = get_selector("small_loss", loss=loss).select(s, 3)
        assert r.indices.tolist() == [1, 0, 2]
        np.testing.assert_allclose(r.gains, [-math.log(0.9), math.log(2), 12 * math.log(10)])


def test_uncertainty_golden():
    probs = [[0.5, 0.5], [0.9, 0.1], [0.6, 0.4], [0.5, 0.5]]
    sig = make_signals(probs, [0, 1, 0, 1])
    # least confidence 1 - max p = [0.5, 0.1, 0.4, 0.5]: keep highest, tie 0/3 by index.
    r = get_selector("least_confidence").select(sig, 3)
    assert r.indices.tolist() == [0, 3, 2]
    np.testing.assert_allclose(r.gains, [0.5, 0.5, 0.4])
    # margin top1 - top2 = [0, 0.8, 0.2, 0]: keep smallest.
    r = get_selector("margin").select(sig, 3)
    assert r.indices.tolist() == [0, 3, 2]
    np.testing.assert_allclose(r.gains, [0.0, 0.0, 0.2], atol=1e-12)
    # entropy of [1,0,0], uniform(3), [.5,.5,0] = [0, log 3, log 2]: keep highest.
    sig3 = make_signals([[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0]], [0, 1, 2])
    r = get_selector("entropy").select(sig3, 2)
    assert r.indices.tolist() == [1, 2]
    np.testing.assert_allclose(r.gains, [math.log(3), math.log(2)])


def test_margin_single_class_is_top1():
    r = get_selector("margin").select(make_signals([[1.0], [1.0]], [0, 0]), 2)
    assert r.indices.tolist() == [0, 1]
    np.testing.assert_allclose(r.gains, [1.0, 1.0])


def test_el2n_and_grand_golden():
    # p - onehot(0): ex0 [-.5, .5] -> sqrt(.5); ex1 [0, 0] -> 0; ex2 [-1, 1] -> sqrt(2).
    # ||[h, 1]||: ex0 h = (3, 4) -> sqrt(26); ex1, ex2 h = 0 -> 1.
    # GraNd = [sqrt(.5 * 26) = sqrt(13), 0, sqrt(2)].
    sig = make_signals([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]], [0, 0, 0], emb=[[3, 4], [0, 0], [0, 0]])
    r = get_selector("el2n").select(sig, 2)
    assert r.indices.tolist() == [2, 0]
    np.testing.assert_allclose(r.gains, [math.sqrt(2), math.sqrt(0.5)])
    r = get_selector("grand").select(sig, 2)
    assert r.indices.tolist() == [0, 2]
    np.testing.assert_allclose(r.gains, [math.sqrt(13), math.sqrt(2)])


def test_forgetting_golden():
    # E = 4 epochs (rows), 4 examples (columns):
    # ex0 T F T F -> 2 events; ex1 T T T T -> 0; ex2 never correct -> E = 4; ex3 F T F T -> 1.
    correct = np.array([[1, 1, 0, 0], [0, 1, 0, 1], [1, 1, 0, 0], [0, 1, 0, 1]], dtype=bool)
    sig = make_signals(np.full((4, 2), 0.5), [0, 1, 0, 1], correct=correct)
    r = get_selector("forgetting").select(sig, 3)
    assert r.indices.tolist() == [2, 0, 3]
    np.testing.assert_array_equal(r.gains, [4.0, 2.0, 1.0])
    np.testing.assert_array_equal(r.extras["score"], [2.0, 0.0, 4.0, 1.0])


def test_forgetting_ties_are_broken_by_seed_not_index():
    # Every example always correct: all scores 0, so the subset is decided by the tie-break.
    sig = make_signals(np.full((40, 2), 0.5), np.zeros(40, int), correct=np.ones((3, 40), bool))
    subsets = {tuple(get_selector("forgetting", seed=s).select(sig, 5).indices) for s in range(6)}
    assert len(subsets) > 1


def test_aum_golden():
    # margins (E=2): ex0 mean(1, 3) = 2, ex1 mean(-1, -3) = -2 (likely mislabelled), ex2 0.5.
    sig = make_signals(np.full((3, 2), 0.5), [0, 1, 0], margins=[[1.0, -1.0, 0.5], [3.0, -3.0, 0.5]])
    r = get_selector("aum").select(sig, 2)
    assert r.indices.tolist() == [0, 2]
    np.testing.assert_allclose(r.gains, [2.0, 0.5])


def test_balance_golden_score_method():
    # Labels: class 0 = {0,1,2,3} (4 examples), class 1 = {4,5} (2). Budget 3 -> {0: 2, 1: 1}.
    # least confidence = 1 - max p: class 0 [0.5, 0.4, 0.1, 0.0], class 1 [0.0, 0.3].
    # Unbalanced keeps 0, 1, 5; balanced keeps 0, 1 from class 0 and 5 from class 1 (same here);
    # with budget 2 unbalanced keeps [0, 1], balanced {0: 1, 1: 1} keeps [0, 5].
    probs = [[0.5, 0.5], [0.6, 0.4], [0.9, 0.1], [1.0, 0.0], [0.0, 1.0], [0.3, 0.7]]
    sig = make_signals(probs, [0, 0, 0, 0, 1, 1])
    assert get_selector("least_confidence").select(sig, 2).indices.tolist() == [0, 1]
    assert get_selector("least_confidence", balance=True).select(sig, 2).indices.tolist() == [0, 5]


# ------------------------------------------------------------------ interface
@pytest.mark.parametrize("name", BASELINES)
def test_registered_with_params_roundtrip(name):
    assert name in available_selectors()
    sel = get_selector(name)
    assert type(get_selector(name, **sel.get_params())) is type(sel)
    assert sel.name == name


def _full_signals(n: int = 60, classes: int = 3, seed: int = 0) -> Signals:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(classes), size=n)
    return Signals(
        labels=np.repeat(np.arange(classes), [n // 2, n // 3, n - n // 2 - n // 3]),
        probs=p,
        embeddings=rng.normal(size=(n, 4)),
        losses=rng.random((4, n)),
        correct=rng.random((4, n)) < 0.7,
        margins=rng.normal(size=(4, n)),
    )


def _quiet(name: str, **kw):
    if name == "kcenter":
        kw["progress"] = False
    return get_selector(name, **kw)


@pytest.mark.parametrize("name", BASELINES)
@pytest.mark.parametrize("budget", [1, 7, 0.5, 60])
def test_balance_gives_class_budgets(name, budget):
    sig = _full_signals()
    r = _quiet(name, balance=True).select(sig, budget)
    k = r.indices.shape[0]
    assert_valid_indices(r.indices, k, sig.n)
    assert r.gains.shape == (k,)
    counts = np.bincount(sig.labels[r.indices], minlength=3)
    wanted = class_budgets(sig.labels, k)
    assert counts.tolist() == [wanted.get(c, 0) for c in range(3)]


@pytest.mark.parametrize("name", BASELINES)
@pytest.mark.parametrize("balance", [False, True])
def test_deterministic_and_ignores_clean_labels(name, balance):
    sig = _full_signals(seed=1)
    rng = np.random.default_rng(5)
    with_clean = Signals(
        labels=sig.labels, probs=sig.probs, embeddings=sig.embeddings, losses=sig.losses,
        correct=sig.correct, margins=sig.margins, clean_labels=rng.integers(3, size=sig.n),
    )  # fmt: skip
    a = _quiet(name, balance=balance).select(sig, 20)
    b = _quiet(name, balance=balance).select(with_clean, 20)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.gains, b.gains)


@pytest.mark.parametrize(
    ("name", "params", "signal"),
    [
        ("forgetting", {}, "correct"),
        ("aum", {}, "margins"),
        ("ccs", {}, "margins"),
        ("small_loss", {"loss": "history"}, "losses"),
    ],
)
def test_missing_signal_errors_name_signal_and_fix(name, params, signal):
    sig = make_signals([[0.5, 0.5], [0.2, 0.8]], [0, 1])
    with pytest.raises(MissingSignalError) as info:
        get_selector(name, **params).select(sig, 1)
    msg = str(info.value)
    assert msg.startswith(f"{name} needs per-epoch `{signal}`")
    assert "run warm-up with per-epoch recording on" in msg


@pytest.mark.parametrize(
    "name", ["uniform", "least_confidence", "margin", "entropy", "el2n", "grand", "kcenter", "moderate"]
)
def test_methods_without_histories_run_on_minimal_signals(name):
    sig = make_signals([[0.5, 0.5], [0.2, 0.8], [1.0, 0.0]], [0, 1, 0], emb=[[0.0], [1.0], [3.0]])
    assert len(_quiet(name).select(sig, 2)) == 2
    assert len(get_selector("small_loss").select(sig, 2)) == 2  # auto falls back to probs
    assert len(get_selector("ccs", score="el2n").select(sig, 2)) == 2


@pytest.mark.parametrize(
    ("name", "params", "arg"),
    [
        ("small_loss", {"loss": "mean"}, "loss"),
        ("el2n", {"balance": "yes"}, "balance"),
        ("forgetting", {"seed": -1}, "seed"),
        ("kcenter", {"first": 1.5}, "first"),
        ("ccs", {"beta": 1.0}, "beta"),
        ("ccs", {"strata": 0}, "strata"),
        ("ccs", {"score": "forgetting"}, "score"),
    ],
)
def test_bad_hyper_parameters_raise_value_error_naming_them(name, params, arg):
    with pytest.raises(ValueError, match=f"`{arg}`"):
        get_selector(name, **params)
