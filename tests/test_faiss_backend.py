"""The faiss neighbour backend: exact with a flat index, recall of approximate indexes."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import softmax

from prune4rel import Signals
from prune4rel.neighbors import CSRGraph, exact_graph, faiss_graph, neighbor_recall
from prune4rel.selection import Prune4ReL

pytest.importorskip("faiss")


def clustered(seed: int = 0, n: int = 1500, dim: int = 24, centers: int = 40, spread: float = 0.15):
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centers, dim))
    emb = c[rng.integers(0, centers, size=n)] + spread * rng.normal(size=(n, dim))
    return emb.astype(np.float32)


def edges(g: CSRGraph) -> set[tuple[int, int]]:
    rows = np.repeat(np.arange(g.n), g.degrees())
    return set(zip(rows.tolist(), g.indices.tolist()))


@pytest.fixture(scope="module")
def data():
    emb = clustered()
    emb[7] = 0.0  # a zero vector neighbours only itself
    exact = exact_graph(emb, 0.9)
    return emb, exact


def test_flat_with_k_at_least_the_degree_is_the_exact_graph(data):
    emb, exact = data
    k = int(exact.degrees().max())  # self included: one more than needed
    g = faiss_graph(emb, 0.9, k, index="flat")
    assert not g.symmetric and g.tau == 0.9
    np.testing.assert_array_equal(g.indptr, exact.indptr)
    np.testing.assert_array_equal(g.indices, exact.indices)
    np.testing.assert_allclose(g.sims, exact.sims, atol=1e-6)
    assert g.row(7)[0].tolist() == [7]
    assert neighbor_recall(g, emb, 0.9, sample=400, seed=1) == 1.0


def test_flat_with_small_k_is_the_capped_exact_graph(data):
    emb, _ = data
    g = faiss_graph(emb, 0.9, 4, index="flat")
    capped = exact_graph(emb, 0.9, 4)
    assert edges(g) == edges(capped)
    assert g.degrees().max() <= 5
    recall = neighbor_recall(g, emb, 0.9, sample=400)
    assert 0.0 < recall < 1.0


def test_symmetrize_adds_reverse_edges(data):
    emb, exact = data
    directed = faiss_graph(emb, 0.9, 4, index="flat")
    sym = faiss_graph(emb, 0.9, 4, index="flat", symmetrize=True)
    assert sym.symmetric
    e = edges(sym)
    assert e == {(c, r) for r, c in e}
    assert edges(directed) <= e <= edges(exact)
    mat = sym.to_scipy()
    assert abs(mat - mat.T).max() == 0  # one similarity per pair
    assert neighbor_recall(sym, emb, 0.9, sample=400) >= neighbor_recall(directed, emb, 0.9, sample=400)


@pytest.mark.parametrize(
    ("index", "params", "floor"),
    [("ivf", {"nlist": 8, "nprobe": 8}, 1.0), ("ivf", {"nlist": 16, "nprobe": 4}, 0.9), ("hnsw", {}, 0.9)],
)
def test_approximate_indexes_recall(data, index, params, floor):
    emb, exact = data
    g = faiss_graph(emb, 0.9, int(exact.degrees().max()), index=index, **params)
    assert edges(g) <= edges(exact)  # never a false edge
    assert neighbor_recall(g, emb, 0.9, sample=400) >= floor


def test_pca_rechecks_in_the_original_space(data):
    emb, exact = data
    k = int(exact.degrees().max())
    g = faiss_graph(emb, 0.9, k, index="flat", pca_dim=8)
    assert edges(g) <= edges(exact)
    dense = exact.to_scipy().toarray()
    rows = np.repeat(np.arange(g.n), g.degrees())
    np.testing.assert_allclose(g.sims, dense[rows, g.indices], atol=1e-6)  # true similarities
    assert neighbor_recall(g, emb, 0.9, sample=400) > 0.9
    full = faiss_graph(emb, 0.9, k, index="flat", pca_dim=emb.shape[1])
    assert edges(full) == edges(exact)


def test_near_threshold_pairs_are_decided_in_float64():
    rng = np.random.default_rng(2)
    base = rng.normal(size=64)
    base /= np.linalg.norm(base)
    other = rng.normal(size=64)
    other -= other @ base * base
    other /= np.linalg.norm(other)
    cos = 0.8
    tau = 0.5 + 0.5 * cos
    eps = 1e-9  # far below float32 resolution
    emb = np.stack([base, (cos + eps) * base + np.sqrt(1 - (cos + eps) ** 2) * other])
    emb = np.vstack([emb, np.stack([base, (cos - eps) * base + np.sqrt(1 - (cos - eps) ** 2) * other])])
    g = faiss_graph(emb, tau, 3, index="flat")
    assert edges(g) == edges(exact_graph(emb, tau))


def test_selector_faiss_flat_selects_what_the_exact_graph_selects():
    rng = np.random.default_rng(4)
    emb = clustered(seed=4, n=400, dim=16, centers=12, spread=0.25)
    probs = softmax(rng.normal(size=(400, 3)))
    sig = Signals(labels=rng.integers(0, 3, size=400), probs=probs, embeddings=emb)
    degree = int(exact_graph(emb, 0.9).degrees().max())
    for objective in ("published", "full"):
        exact = Prune4ReL(tau=0.9, objective=objective, backend="graph").select(sig, 120)
        faiss = Prune4ReL(tau=0.9, objective=objective, backend="faiss", index="flat", k=degree)
        approx = faiss.select(sig, 120)
        assert str(approx.extras["backend"]) == "faiss"
        assert set(approx.indices.tolist()) == set(exact.indices.tolist())
        assert approx.objective == pytest.approx(exact.objective, rel=1e-6)
    ivf = Prune4ReL(tau=0.9, backend="faiss", k=8, index_params={"nprobe": 4, "seed": 1}).select(sig, 50)
    assert len(set(ivf.indices.tolist())) == 50


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, "`k`"),
        ({"index": "lsh"}, "`index`"),
        ({"pca_dim": 99}, "`pca_dim`"),
        ({"tau": 1.0}, "`tau`"),
        ({"device": "tpu"}, "`device`"),
        ({"index": "hnsw", "device": "cuda"}, "hnsw"),
    ],
)
def test_bad_arguments_name_the_argument(data, kwargs, match):
    emb, _ = data
    args = {"tau": 0.9, "k": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        faiss_graph(emb[:50], **args)


def test_selector_rejects_bad_faiss_arguments():
    with pytest.raises(ValueError, match="index"):
        Prune4ReL(backend="faiss", index="lsh")
    with pytest.raises(ValueError, match="index_params"):
        Prune4ReL(backend="faiss", index_params={"tau": 0.5})
    with pytest.raises(ValueError, match="`k`"):
        Prune4ReL(backend="faiss", k=0)


def test_recall_of_a_graph_without_edges(data):
    emb, _ = data
    n = emb.shape[0]
    empty = CSRGraph(np.arange(n + 1, dtype=np.int64), np.arange(n), np.ones(n, np.float32), 0.9, True)
    assert neighbor_recall(empty, emb, 0.9, sample=200) == 0.0
    assert neighbor_recall(empty, emb, 0.9999, sample=200) == 1.0  # nobody has a neighbour
    with pytest.raises(ValueError, match="nodes"):
        neighbor_recall(empty, emb[:10], 0.9)
