"""k-center, Moderate-DS and CCS against brute-force definitions and golden cases."""

from __future__ import annotations

import math
import tracemalloc

import baseline_oracles as oracle
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from prune4rel import Signals, get_selector
from prune4rel.selection import class_budgets
from prune4rel.selection.kcenter import kcenter_greedy

FEW = settings(max_examples=40, deadline=None)


def make_signals(emb, labels, **kw) -> Signals:
    emb = np.asarray(emb, dtype=np.float64)
    if emb.ndim == 1:
        emb = emb[:, None]
    labels = np.asarray(labels)
    c = int(labels.max()) + 1
    return Signals(labels=labels, probs=np.full((emb.shape[0], c), 1.0 / c), embeddings=emb, **kw)


@st.composite
def geometry_case(draw, max_n: int = 18):
    """Integer embeddings (exact distances, many ties and duplicates), labels and a budget."""
    n = draw(st.integers(1, max_n))
    d = draw(st.integers(1, 3))
    classes = draw(st.integers(1, 3))
    emb = draw(arrays(np.int64, (n, d), elements=st.integers(-3, 3))).astype(np.float64)
    labels = draw(arrays(np.int64, n, elements=st.integers(0, classes - 1)))
    budget = draw(st.integers(1, n))
    return emb, labels, budget


# ------------------------------------------------------------------ k-center
@FEW
@given(case=geometry_case(), data=st.data())
def test_kcenter_matches_brute_force(case, data):
    emb, labels, budget = case
    first = data.draw(st.integers(0, emb.shape[0] - 1))
    sig = make_signals(emb, labels)
    r = get_selector("kcenter", first=first, progress=False).select(sig, budget)
    want, radii = oracle.kcenter(emb, budget, first)
    assert r.indices.tolist() == want
    assert r.indices.dtype == np.int64
    np.testing.assert_array_equal(r.gains, radii)


@FEW
@given(case=geometry_case(), seed=st.integers(0, 2**31))
def test_kcenter_balanced_is_greedy_inside_each_class(case, seed):
    emb, labels, budget = case
    sig = make_signals(emb, labels)
    r = get_selector("kcenter", seed=seed, balance=True, progress=False).select(sig, budget)
    again = get_selector("kcenter", seed=seed, balance=True, progress=False).select(sig, budget)
    np.testing.assert_array_equal(r.indices, again.indices)
    wanted = class_budgets(labels, budget)
    pos = 0
    for c in sorted(wanted):  # picks come class by class
        k = wanted[c]
        if k == 0:
            continue
        part = r.indices[pos : pos + k].tolist()
        members = [i for i in range(len(labels)) if labels[i] == c]
        assert set(part) <= set(members)
        local, radii = oracle.kcenter(emb[members], k, members.index(part[0]))
        assert part == [members[j] for j in local]
        np.testing.assert_array_equal(r.gains[pos : pos + k], radii)
        pos += k
    assert pos == budget


def test_kcenter_golden():
    # Points on a line 0, 1, 5, 6, 10, first center 0:
    # distances to {0}: 1, 5, 6, 10 -> pick 10 (radius 10); to {0, 10}: 1, 5, 4 -> pick 5
    # (radius 5); to {0, 10, 5}: 1 and 1 -> tie, lower index (point 1), then point 6.
    sig = make_signals([0, 1, 5, 6, 10], [0, 0, 0, 0, 0])
    r = get_selector("kcenter", first=0, progress=False).select(sig, 5)
    assert r.indices.tolist() == [0, 4, 2, 1, 3]
    np.testing.assert_array_equal(r.gains, [math.inf, 10, 5, 1, 1])
    # Duplicates: every remaining distance is 0, yet no index is picked twice.
    r = get_selector("kcenter", first=1, progress=False).select(make_signals([2, 2, 2], [0, 0, 0]), 3)
    assert r.indices.tolist() == [1, 0, 2]
    np.testing.assert_array_equal(r.gains, [math.inf, 0, 0])


def test_kcenter_seeded_first_center():
    rng = np.random.default_rng(0)
    sig = make_signals(rng.normal(size=(50, 3)), np.zeros(50, int))
    picks = {int(get_selector("kcenter", seed=s, progress=False).select(sig, 3).indices[0]) for s in range(8)}
    assert len(picks) > 1  # the first center depends on the seed
    a = get_selector("kcenter", seed=3, progress=False).select(sig, 10).indices
    b = get_selector("kcenter", seed=3, progress=False).select(sig, 10).indices
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="`first`"):
        get_selector("kcenter", first=50, progress=False).select(sig, 3)


def test_kcenter_min_dist_buffer_holds_squared_distance_to_nearest_center():
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(30, 2))
    buf = np.zeros(30)
    idx, _ = kcenter_greedy(emb, 6, 4, min_dist=buf)
    for i in range(30):
        if i in idx:
            assert buf[i] == -np.inf
        else:
            want = min(oracle.dist(list(emb[i]), list(emb[c])) for c in idx[:-1]) ** 2
            assert buf[i] == pytest.approx(want, rel=1e-9, abs=1e-12)


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_tracemalloc_sees_numpy_allocations():
    # Guard for the memory test below: numpy reports its buffers to tracemalloc.
    assert _peak_bytes(lambda: np.ones(1_000_000)) >= 8_000_000


@pytest.mark.parametrize("balance", [False, True])
def test_kcenter_memory_is_linear_in_n_plus_budget(balance):
    # n = 20000 points, budget 1000: a (budget, n) float64 matrix would take 160 MB.
    # O(n + budget) allows a few (n,) float64 arrays (160 kB each), so the peak of all
    # allocations made during selection must stay under 2 MB.
    n, budget = 20_000, 1_000
    rng = np.random.default_rng(0)
    sig = make_signals(rng.normal(size=(n, 3)), rng.integers(0, 2, size=n))
    sel = get_selector("kcenter", balance=balance, progress=False)
    peak = _peak_bytes(lambda: sel.select(sig, budget))
    # balance copies each class's (n_c, 3) embeddings: still O(n).
    assert peak < 2_000_000 + (n * 3 * 8 if balance else 0), peak
    assert peak < budget * n * 8 // 50


def test_kcenter_memory_does_not_grow_with_budget():
    n = 10_000
    emb = np.random.default_rng(0).normal(size=(n, 2))
    small = _peak_bytes(lambda: kcenter_greedy(emb, 10, 0))
    large = _peak_bytes(lambda: kcenter_greedy(emb, 1_000, 0))
    # 990 more picks may add only the (budget,) outputs: 2 arrays x 8 bytes x 990.
    assert large - small < 64_000, (small, large)


# ------------------------------------------------------------------ moderate
@FEW
@given(case=geometry_case(), balance=st.booleans())
def test_moderate_matches_brute_force(case, balance):
    emb, labels, budget = case
    sig = make_signals(emb, labels)
    r = get_selector("moderate", balance=balance).select(sig, budget)
    dist = oracle.median_distances(emb, labels)
    n = len(labels)
    if balance:
        want: list[int] = []
        for c, k in class_budgets(labels, budget).items():
            members = [i for i in range(n) if labels[i] == c]
            want += oracle.middle_band(members, dist, k)
    else:
        want = oracle.middle_band(list(range(n)), dist, budget)
    assert r.indices.dtype == np.int64
    assert sorted(r.indices.tolist()) == sorted(want)
    np.testing.assert_array_equal(r.gains, [dist[i] for i in r.indices])


def test_moderate_golden():
    # One class, points 0, 1, 2, 3, 10: median 2, distances [2, 1, 0, 1, 8].
    # Ascending ranks (ties by index): ex2 (0), ex1 (1), ex3 (1), ex0 (2), ex4 (8).
    # Budget 3: ranks floor((5-3)/2) = 1 .. 3 -> ex1, ex3, ex0; order by closeness to the
    # median rank 2: ex3 (rank 2), then ex1 (rank 1) before ex0 (rank 3).
    sig = make_signals([0, 1, 2, 3, 10], [0] * 5)
    r = get_selector("moderate").select(sig, 3)
    assert r.indices.tolist() == [3, 1, 0]
    np.testing.assert_array_equal(r.gains, [1, 1, 2])
    # Budget 2: ranks floor(3/2) = 1 .. 2 -> ex1, ex3 (rank 2 is the closer to the median).
    assert get_selector("moderate").select(sig, 2).indices.tolist() == [3, 1]
    # Two classes: class 1 = points 100, 104 (even size: median 102, distances 2, 2).
    # Balanced budget 3 of 7 -> class 0: 2 (ranks 1..2: ex1, ex3), class 1: 1 (ex5, lower rank).
    sig2 = make_signals([0, 1, 2, 3, 10, 100, 104], [0, 0, 0, 0, 0, 1, 1])
    r = get_selector("moderate", balance=True).select(sig2, 3)
    assert sorted(r.indices.tolist()) == [1, 3, 5]


# ------------------------------------------------------------------ CCS
@FEW
@given(
    case=geometry_case(max_n=30),
    data=st.data(),
    beta=st.sampled_from([0.0, 0.1, 0.3, 0.5]),
    strata=st.integers(1, 6),
    balance=st.booleans(),
)
def test_ccs_matches_brute_force_plan(case, data, beta, strata, balance):
    _, labels, budget = case
    n = len(labels)
    e = data.draw(st.integers(1, 3))
    margins = data.draw(arrays(np.int64, (e, n), elements=st.integers(-8, 8))) / 4.0
    sig = make_signals(np.zeros(n), labels, margins=margins)
    r = get_selector("ccs", beta=beta, strata=strata, balance=balance, seed=1).select(sig, budget)
    assert r.indices.dtype == np.int64
    assert len(set(r.indices.tolist())) == budget
    difficulty = [-a for a in oracle.aum(margins)]  # low AUM = hard
    groups = {0: (list(range(n)), budget)}
    if balance:
        groups = {
            c: ([i for i in range(n) if labels[i] == c], k) for c, k in class_budgets(labels, budget).items()
        }
    chosen = set(r.indices.tolist())
    for members, k in groups.values():
        picked = [i for i in members if i in chosen]
        assert len(picked) == k
        if k == 0:
            continue
        cut, stratum, quota = oracle.ccs_plan([difficulty[i] for i in members], k, beta, strata)
        local = [members.index(i) for i in picked]
        assert not set(local) & cut
        got = {s: sum(1 for j in local if stratum[j] == s) for s in quota}
        assert got == quota
    np.testing.assert_array_equal(r.gains, [-difficulty[i] for i in r.indices])


def test_ccs_golden():
    # AUM (E=1) of 10 examples; difficulty = -AUM.
    aum = [-3, -2, 0, 0.1, 0.2, 0.3, 1.0, 2.0, 2.5, 3.0]
    # beta 0.1 cuts floor(1) hardest: ex0 (AUM -3). Remaining difficulty 2 .. -3, range 5,
    # 5 strata of width 1 (over difficulty -3..2):
    #   ex9 -3, ex8 -2.5 -> stratum 0; ex7 -2 -> 1; ex6 -1, ex5 -.3, ex4 -.2, ex3 -.1 -> 2;
    #   ex2 0 -> 3; ex1 2 -> 4 (the maximum goes to the last stratum).
    # Budget 5, visit by size: s1 (1), s3 (1), s4 (1), s0 (2), s2 (4); quotas
    #   min(1, 5//5)=1, min(1, 4//4)=1, min(1, 3//3)=1, min(2, 2//2)=1, min(4, 1//1)=1.
    sig = make_signals(np.zeros(10), [0] * 10, margins=[aum])
    for seed in range(5):
        r = get_selector("ccs", beta=0.1, strata=5, seed=seed).select(sig, 5)
        idx = r.indices.tolist()
        assert idx[:3] == [7, 2, 1]
        assert idx[3] in (8, 9)
        assert idx[4] in (3, 4, 5, 6)
        np.testing.assert_array_equal(r.gains, [aum[i] for i in idx])
        assert r.extras["stratum"].tolist() == [-1, 4, 3, 2, 2, 2, 2, 1, 0, 0]
    # Budget 10 of 10 leaves nothing to cut: everything is kept.
    r = get_selector("ccs", beta=0.1, strata=5).select(sig, 10)
    assert sorted(r.indices.tolist()) == list(range(10))


def test_ccs_el2n_cuts_the_highest_el2n():
    # EL2N = ||p - onehot(y)||: ex0 sqrt(2) (confidently wrong), others smaller.
    probs = [[0.0, 1.0], [0.5, 0.5], [0.9, 0.1], [1.0, 0.0], [0.8, 0.2]]
    sig = Signals(labels=[0] * 5, probs=probs, embeddings=np.zeros((5, 1)))
    for seed in range(5):
        r = get_selector("ccs", score="el2n", beta=0.2, strata=2, seed=seed).select(sig, 4)
        assert sorted(r.indices.tolist()) == [1, 2, 3, 4]  # ex0 cut, the other 4 all kept


def test_ccs_deterministic_per_seed_and_seed_matters():
    rng = np.random.default_rng(0)
    sig = make_signals(np.zeros(200), rng.integers(0, 3, size=200), margins=rng.normal(size=(3, 200)))
    a = get_selector("ccs", seed=7).select(sig, 50).indices
    b = get_selector("ccs", seed=7).select(sig, 50).indices
    c = get_selector("ccs", seed=8).select(sig, 50).indices
    np.testing.assert_array_equal(a, b)
    assert set(a.tolist()) != set(c.tolist())
