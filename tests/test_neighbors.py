"""Exact neighbour graphs against a brute-force float64 computation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from oracle import dense_of, similarity_matrix

from prune4rel.neighbors import DenseRows, exact_graph
from prune4rel.neighbors import clusters as clusters_module
from prune4rel.neighbors.similarity import cosine_margin, sparse_nonzero, unit_rows


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(1, 60),
    dim=st.integers(1, 6),
    tau=st.sampled_from([0.975, 0.9, 0.5, 0.2]),
    block=st.integers(1, 17),
)
def test_graph_equals_brute_force_for_any_tiling(seed, n, dim, tau, block):
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, dim)).astype(np.float32)
    emb[rng.random(n) < 0.1] = 0.0
    g = exact_graph(emb, tau, block_rows=block, block_cols=block + 3)
    expected = similarity_matrix(emb, tau)
    np.testing.assert_array_equal(dense_of(g) > 0, expected > 0)
    np.testing.assert_allclose(dense_of(g), expected, atol=1e-6)
    assert g.symmetric and np.all(np.diff(g.indptr) >= 1)
    # the on-the-fly rows agree with the graph
    rows = DenseRows(emb, tau)
    for s in range(n):
        cols, sims = rows.row(s)
        np.testing.assert_array_equal(cols, np.flatnonzero(expected[s] > 0))
        np.testing.assert_allclose(sims, expected[s][cols], atol=1e-6)


def test_near_threshold_pairs_are_decided_in_float64():
    # cos exactly around 0.95 +- 1e-9: float32 alone cannot tell these apart
    angle = np.arccos(0.95)
    offsets = np.array([-2e-9, 2e-9])
    emb = [[1.0, 0.0]] + [[np.cos(angle + o), np.sin(angle + o)] for o in offsets]
    g = exact_graph(np.array(emb), 0.975)
    cos64 = np.cos(angle + offsets)
    assert dense_of(g)[0, 1] > 0 if 0.5 + 0.5 * cos64[0] > 0.975 else dense_of(g)[0, 1] == 0
    assert dense_of(g)[0, 2] == 0 if 0.5 + 0.5 * cos64[1] <= 0.975 else dense_of(g)[0, 2] > 0


def test_knn_cap_keeps_most_similar():
    emb = np.array([[1.0, 0.0], [1.0, 0.01], [1.0, 0.02], [1.0, 0.03], [0.0, 1.0]])
    g = exact_graph(emb, 0.9, k=1)
    assert not g.symmetric
    assert g.row(0)[0].tolist() == [0, 1]
    assert g.row(1)[0].tolist() == [1, 2]  # 2 is 0.0099997 rad away, 0 is 0.0099997 + 3e-9
    assert g.row(2)[0].tolist() == [2, 3]
    assert g.row(3)[0].tolist() == [2, 3]
    assert g.row(4)[0].tolist() == [4]
    assert g.transpose().row(2)[0].tolist() == [1, 2, 3]


def test_zero_vectors_only_neighbour_themselves_even_at_low_tau():
    emb = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    g = exact_graph(emb, 0.0)
    assert g.row(0)[0].tolist() == [0] and g.row(2)[0].tolist() == [2]
    assert not np.any(np.isnan(g.sims))


@pytest.mark.parametrize("bad", [np.array([[np.nan, 1.0]]), np.zeros((0, 3)), np.zeros(4)])
def test_bad_embeddings_raise(bad):
    with pytest.raises(ValueError, match="embeddings"):
        exact_graph(bad, 0.9)


def test_max_edges_guard():
    with pytest.raises(ValueError, match="max_edges"):
        exact_graph(np.ones((50, 2)), 0.5, max_edges=100)


@settings(max_examples=100, deadline=None)
@given(mask=arrays(bool, st.tuples(st.integers(1, 20), st.integers(1, 20))))
def test_sparse_nonzero_equals_numpy(mask):
    for got, want in zip(sparse_nonzero(mask), np.nonzero(mask)):
        np.testing.assert_array_equal(got, want)


def test_cuda_device_without_a_gpu_is_a_clear_error(monkeypatch):
    import prune4rel.devices
    from prune4rel.devices import VisibleGPUs
    from prune4rel.selection import Prune4ReL

    monkeypatch.setattr(prune4rel.devices, "visible_gpus", lambda: VisibleGPUs(0))
    with pytest.raises(ValueError, match="no CUDA device"):
        Prune4ReL(device="cuda")
    with pytest.raises(ValueError, match="sees no CUDA GPU"):
        exact_graph(np.ones((3, 2)), 0.9, device="cuda")
    with pytest.raises(ValueError, match="device"):
        exact_graph(np.ones((3, 2)), 0.9, device="tpu")


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(1, 120),
    dim=st.integers(1, 8),
    tau=st.sampled_from([0.975, 0.9, 0.6, 0.1]),
    clusters=st.integers(1, 15),
    block=st.integers(1, 40),
    spread=st.sampled_from([0.02, 0.2, 1.0]),
)
def test_cluster_pruning_gives_the_same_graph(seed, n, dim, tau, clusters, block, spread):
    """Pairs ruled out by the triangle inequality on angles are never true neighbours."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(4, dim))
    emb = centers[rng.integers(0, 4, n)] + spread * rng.normal(size=(n, dim))
    emb[rng.random(n) < 0.05] = 0.0
    full = exact_graph(emb, tau, prune="none")
    pruned = exact_graph(emb, tau, prune="clusters", clusters=clusters, block_rows=block)
    np.testing.assert_array_equal(pruned.indptr, full.indptr)
    np.testing.assert_array_equal(pruned.indices, full.indices)
    np.testing.assert_allclose(pruned.sims, full.sims, rtol=1e-6)
    np.testing.assert_array_equal(dense_of(pruned) > 0, similarity_matrix(emb, tau) > 0)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(2, 150),
    dim=st.integers(2, 8),
    tau=st.sampled_from([0.975, 0.9, 0.6]),
    clusters=st.integers(2, 40),
    block=st.integers(1, 40),
)
def test_two_level_cluster_plan_gives_the_same_graph(seed, n, dim, tau, clusters, block):
    """Two-level k-means (assignment within a coarse group, not globally nearest) stays exact."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(6, dim))
    emb = centers[rng.integers(0, 6, n)] + 0.1 * rng.normal(size=(n, dim))
    full = exact_graph(emb, tau, prune="none")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(clusters_module, "TWO_LEVEL_FROM", 1)
        plan = clusters_module.ClusterPlan(*_plan_inputs(emb, tau), clusters, block)
        assert np.sort(plan.ids).tolist() == list(range(n))
        pruned = exact_graph(emb, tau, prune="clusters", clusters=clusters, block_rows=block)
    np.testing.assert_array_equal(pruned.indptr, full.indptr)
    np.testing.assert_array_equal(pruned.indices, full.indices)
    np.testing.assert_allclose(pruned.sims, full.sims, rtol=1e-6)


def _plan_inputs(emb: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray, float, float]:
    unit, norms = unit_rows(emb)
    margin = cosine_margin(emb.shape[1])
    return unit, norms > 0, 2 * tau - 1 - margin, margin


def test_cluster_plan_prunes_far_clusters_without_row_products():
    """Orthogonal tight clusters: a block is only compared with rows drawn around its own direction."""
    rng = np.random.default_rng(0)
    dirs = np.linalg.qr(rng.normal(size=(64, 64)))[0]  # orthogonal cluster directions
    emb = np.repeat(dirs, 50, axis=0) + 0.01 * rng.normal(size=(3200, 64))
    plan = clusters_module.ClusterPlan(*_plan_inputs(emb, 0.975), 64, 64)
    true = plan.ids // 50  # the direction each position was drawn around
    for lo, hi, first, last in plan.blocks:
        cols = np.concatenate([true[start:stop] for start, stop in zip(first, last)])
        assert set(cols.tolist()) <= set(true[lo:hi].tolist())
    assert plan.work < 0.1 * 3200 * 3200 / 2


def test_default_clusters():
    assert clusters_module.default_clusters(100) == 10
    assert clusters_module.default_clusters(1_024) == 32
    assert clusters_module.default_clusters(1_280_000) == 40_000


def test_bad_prune_option():
    with pytest.raises(ValueError, match="prune"):
        exact_graph(np.ones((3, 2)), 0.9, prune="kmeans")
