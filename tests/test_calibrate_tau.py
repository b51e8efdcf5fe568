"""calibrate_tau against a brute-force count of neighbour pairs, and the selectors' target_degree."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prune4rel.neighbors import calibrate_tau, exact_graph
from prune4rel.selection import get_selector
from prune4rel.signals import Signals


def pair_similarities(emb: np.ndarray) -> np.ndarray:
    """float64 ``0.5 + 0.5 cos`` of every ordered pair i != j; NaN where a row is zero or i == j."""
    e = np.asarray(emb, dtype=np.float64)
    norms = np.linalg.norm(e, axis=1)
    unit = e / np.where(norms > 0, norms, 1.0)[:, None]
    sim = 0.5 + 0.5 * unit @ unit.T
    sim[norms == 0, :] = np.nan
    sim[:, norms == 0] = np.nan
    np.fill_diagonal(sim, np.nan)
    return sim


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(2, 80),
    dim=st.integers(2, 8),
    share=st.floats(0.01, 1.0),
    zero_share=st.sampled_from([0.0, 0.2]),
)
def test_every_row_as_query_gives_the_exact_pair_count(seed, n, dim, share, zero_share):
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, dim)) + rng.normal(size=dim)  # off-centre: cosines not symmetric
    emb[rng.random(n) < zero_share] = 0.0
    sims = pair_similarities(emb)
    pairs = int(np.sum(~np.isnan(sims)))
    if pairs == 0:
        with pytest.raises(ValueError, match="neighbour pairs"):
            calibrate_tau(emb, 1.0, sample=n)
        return
    k = 2 * max(1, round(share * pairs / 2))  # every pair is counted from both of its ends
    tau = calibrate_tau(emb, k / n, sample=n, chunk=7)
    assert 0.0 <= tau < 1.0
    assert np.nansum(sims > tau) == k  # continuous data: no ties
    # the graph built at that tau holds the same pairs (its self-loops aside)
    graph = exact_graph(emb, tau)
    assert graph.nnz - n == k


def test_a_sample_of_rows_estimates_the_mean_degree():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 16))
    emb = centres[rng.integers(0, 20, 3000)] + 0.4 * rng.normal(size=(3000, 16))
    for target in (5.0, 40.0):
        tau = calibrate_tau(emb, target, sample=600, seed=1)
        mean_degree = (exact_graph(emb, tau).degrees() - 1).mean()
        assert mean_degree == pytest.approx(target, rel=0.2)
    # larger targets need lower thresholds
    assert calibrate_tau(emb, 5.0, sample=600) > calibrate_tau(emb, 40.0, sample=600)


def test_memory_map_and_chunking_do_not_change_the_result(tmp_path):
    rng = np.random.default_rng(3)
    emb = rng.normal(size=(500, 12)).astype(np.float32)
    path = tmp_path / "emb.npy"
    np.save(path, emb)
    mapped = np.load(path, mmap_mode="r")
    expected = calibrate_tau(emb, 10.0, sample=128, seed=5)
    assert calibrate_tau(mapped, 10.0, sample=128, seed=5, chunk=33, progress=True) == expected
    assert calibrate_tau(emb, 10.0, sample=128, seed=6) != expected  # the draw depends on the seed


@pytest.mark.parametrize("row", [[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])  # float32 cosine 1 or just below
def test_duplicates_give_a_threshold_below_one_that_keeps_them(row):
    emb = np.tile(row, (6, 1))
    tau = calibrate_tau(emb, 2.0, sample=6)
    assert 1.0 - 1e-6 < tau < 1.0
    assert np.all(exact_graph(emb, tau).degrees() == 6)  # every duplicate stays a neighbour


@pytest.mark.parametrize(
    ("emb", "kwargs", "match"),
    [
        (np.ones((1, 3)), {"target_degree": 1.0}, "n >= 2"),
        (np.ones(5), {"target_degree": 1.0}, r"\(n, d\)"),
        (np.ones((4, 2)), {"target_degree": 0.0}, "target_degree"),
        (np.ones((4, 2)), {"target_degree": 3.5}, "target_degree"),
        (np.ones((4, 2)), {"target_degree": float("nan")}, "target_degree"),
        (np.ones((4, 2)), {"target_degree": True}, "target_degree"),
        (np.ones((4, 2)), {"target_degree": 1.0, "sample": 0}, "sample"),
        (np.ones((4, 2)), {"target_degree": 1.0, "chunk": 2.5}, "chunk"),
        (np.array([[1.0, 0.0], [np.nan, 1.0], [0.0, 1.0]]), {"target_degree": 1.0}, "NaN"),
        (np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]), {"target_degree": 1.0}, "zero embeddings"),
    ],
)
def test_bad_input_raises_a_clear_error(emb, kwargs, match):
    with pytest.raises(ValueError, match=match):
        calibrate_tau(emb, **kwargs)


def noisy_signals(seed: int = 0, n: int = 400) -> Signals:
    rng = np.random.default_rng(seed)
    clean = rng.integers(0, 4, n)
    emb = np.eye(4)[clean] * 3.0 + rng.normal(size=(n, 4))
    labels = np.where(rng.random(n) < 0.3, rng.integers(0, 4, n), clean)
    logits = 2.0 * np.eye(4)[clean] + rng.normal(size=(n, 4))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return Signals(labels=labels, probs=probs, embeddings=emb.astype(np.float32))


@pytest.mark.parametrize("method", ["prune4rel", "prune4rel_agree"])
def test_selector_with_target_degree_equals_the_selector_at_the_calibrated_tau(method):
    signals = noisy_signals()
    tau = calibrate_tau(signals.embeddings, 25.0)
    calibrated = get_selector(method, target_degree=25.0).select(signals, 0.3)
    fixed = get_selector(method, tau=tau).select(signals, 0.3)
    np.testing.assert_array_equal(calibrated.indices, fixed.indices)
    assert float(calibrated.extras["tau"]) == tau
    assert float(get_selector(method).select(signals, 0.3).extras["tau"]) == 0.975
    assert calibrated.params["target_degree"] == 25.0


def test_target_degree_above_n_minus_one_links_every_pair():
    signals = noisy_signals(n=30)
    result = get_selector("prune4rel", target_degree=1e9).select(signals, 5)
    tau = float(result.extras["tau"])
    assert exact_graph(signals.embeddings, tau).nnz == 30 * 30


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), "20", True])
def test_selector_rejects_a_bad_target_degree(bad):
    with pytest.raises(ValueError, match="target_degree"):
        get_selector("prune4rel", target_degree=bad)
