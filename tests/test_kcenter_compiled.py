"""The compiled k-center: the picks of the brute-force oracle and of the previous implementation
(one matrix-vector product per pick, kept as the numba-free fallback), whatever it skips."""

from __future__ import annotations

import baseline_oracles as oracle
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from prune4rel.selection import kcenter as kc
from prune4rel.selection.kcenter_kernel import kcenter_steps, principal_head


def matvec(x: np.ndarray, budget: int, first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The previous implementation: every example updated after every pick."""
    picks, radii, min_dist = np.empty(budget, np.int64), np.empty(budget), np.full(x.shape[0], np.inf)
    picks[0] = first
    kc._matvec_greedy(x, budget, picks, radii, min_dist, kc.tqdm(disable=True))
    return picks, radii, min_dist


def compiled(x: np.ndarray, budget: int, first: int, skip: bool = True):
    """The kernel with the principal-coordinate bound (``skip``) or computing every distance."""
    n = x.shape[0]
    head, slack = principal_head(x) if skip else (np.empty((n, 0), np.float32), 0.0)
    picks, radii, min_dist = np.empty(budget, np.int64), np.empty(budget), np.full(n, np.inf)
    picks[0] = first
    kcenter_steps(x, head, slack, 0, budget, budget, picks, radii, min_dist, np.full(n, np.inf))
    return picks, radii, min_dist


def points(n: int, d: int, dtype, seed: int, duplicates: bool = True) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(8, d)) * 3
    x = (centers[rng.integers(0, 8, n)] + rng.normal(size=(n, d))).astype(dtype)
    if duplicates:
        x[rng.integers(0, n, n // 5)] = x[3]
    return x


@settings(max_examples=30, deadline=None)
@given(
    emb=st.integers(17, 24).flatmap(lambda d: arrays(np.int64, (40, d), elements=st.integers(-2, 2))),
    budget=st.integers(1, 40),
    first=st.integers(0, 39),
)
def test_with_the_bound_in_use_the_picks_are_the_oracles_ties_and_duplicates_included(emb, budget, first):
    x = emb.astype(np.float64)  # integer coordinates: exact distances, many exact ties
    assert principal_head(x)[0].shape[1] == x.shape[1] // 2  # the bound is in use
    idx, radii = kc.kcenter_greedy(x, budget, first)
    want, want_radii = oracle.kcenter(x, budget, first)
    assert idx.tolist() == want
    np.testing.assert_array_equal(radii, want_radii)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [20, 64, 128])
def test_skipping_changes_no_bit_of_the_result(dtype, d):
    x = points(2000, d, dtype, seed=d)
    full = compiled(x, 1500, 7, skip=False)
    fast = compiled(x, 1500, 7, skip=True)
    for a, b in zip(full, fast):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_float64_picks_are_the_previous_implementations(seed):
    x = points(1500, 40, np.float64, seed)
    idx, radii = kc.kcenter_greedy(x, 1200, seed)
    want, want_radii, _ = matvec(x, 1200, seed)
    np.testing.assert_array_equal(idx, want)
    np.testing.assert_allclose(radii, want_radii, rtol=1e-12, atol=1e-12)


def test_float32_picks_are_those_of_the_exact_greedy_on_the_same_values():
    # the previous implementation rounded float32 dot products, which can reorder two
    # examples whose distances agree to about 1e-7; on float64 copies it is exact enough
    x = points(1500, 40, np.float32, seed=5)
    idx, _ = kc.kcenter_greedy(x, 1200, 0)
    want, _, _ = matvec(x.astype(np.float64), 1200, 0)
    np.testing.assert_array_equal(idx, want)


def test_float16_embeddings_are_read_as_float32():
    x = points(800, 32, np.float16, seed=6, duplicates=False)
    a = kc.kcenter_greedy(x, 300, 2)
    b = kc.kcenter_greedy(x.astype(np.float32), 300, 2)
    for got, want in zip(a, b):
        np.testing.assert_array_equal(got, want)


def test_without_numba_the_fallback_makes_the_same_picks(monkeypatch):
    x = points(1200, 30, np.float64, seed=7)
    want = kc.kcenter_greedy(x, 900, 1)
    buf = np.empty(1200)
    monkeypatch.setattr(kc, "numba_available", lambda: False)
    got = kc.kcenter_greedy(x, 900, 1, min_dist=buf)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12)
    assert (buf[got[0]] == -np.inf).all()


def test_the_head_distance_never_exceeds_the_distance_by_more_than_the_slack():
    x = points(3000, 48, np.float32, seed=8)
    head, slack = principal_head(x)
    assert head.shape == (3000, 24) and head.dtype == np.float32 and 0 < slack < 1e-4
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, 3000, 20000), rng.integers(0, 3000, 20000)
    xd = x.astype(np.float64)
    exact = np.linalg.norm(xd[i] - xd[j], axis=1)
    bound = np.linalg.norm(head[i].astype(np.float64) - head[j], axis=1)
    assert (bound <= exact + slack / 2).all()
    assert np.median(bound / np.maximum(exact, 1e-12)) > 0.5  # and it is a useful bound here


@pytest.mark.parametrize(("d", "scale"), [(15, 1.0), (40, 1e16)])
def test_no_bound_where_it_cannot_help_or_could_overflow(d, scale):
    head, slack = principal_head(np.random.default_rng(0).normal(size=(100, d)) * scale)
    assert head.shape == (100, 0) and slack == 0.0
