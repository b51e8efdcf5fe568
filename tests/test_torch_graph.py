"""torch_graph against exact_graph and float64, and its error band on adversarial inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import dense_of, similarity_matrix

from prune4rel.neighbors import GraphTooLargeError, cosine_margin, exact_graph, torch_graph
from prune4rel.neighbors import torch_backend as backend
from prune4rel.neighbors.similarity import assemble_graph
from prune4rel.neighbors.torch_backend import (
    device_csr,
    full_precision_matmul,
    product_margin,
    torch_unit_rows,
)

DTYPES = ["float16", "bfloat16", "float32"]
UNIT_ROUNDOFF = {"float16": 2.0**-11, "bfloat16": 2.0**-8, "float32": 2.0**-24}


def near_threshold_embeddings(seed: int, n: int, dim: int, tau: float, near: int) -> np.ndarray:
    """Gaussian rows, 10% zero, some duplicated, ``near`` rows within 1e-7 of tau to row 0."""
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, dim)) + (rng.normal(size=dim) if rng.random() < 0.5 else 0.0)
    copies = rng.integers(0, n, size=(n // 6, 2))
    emb[copies[:, 0]] = emb[copies[:, 1]]
    if dim >= 2 and n >= 2:
        base = emb[0] / np.linalg.norm(emb[0])
        for j in rng.choice(np.arange(1, n), size=min(near, n - 1), replace=False):
            side = rng.normal(size=dim)
            side -= (side @ base) * base
            side /= np.linalg.norm(side)
            cos = 2.0 * tau - 1.0 + rng.choice([-1.0, 1.0]) * rng.uniform(1e-10, 1e-7)
            emb[j] = rng.uniform(0.5, 2.0) * (cos * base + np.sqrt(1.0 - cos * cos) * side)
    emb[rng.random(n) < 0.1] = 0.0
    return emb if rng.random() < 0.5 else emb.astype(np.float32)


def float64_sims(emb: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``0.5 + 0.5 cos`` in float64, summed as refine_pairs sums (row by row)."""
    e = np.asarray(emb, dtype=np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", e, e))
    return 0.5 + 0.5 * np.einsum("ij,ij->i", e[rows] / norms[rows, None], e[cols] / norms[cols, None])


def assert_exact(graph, emb: np.ndarray, tau: float, k: int | None = None) -> None:
    """Same edges as exact_graph; every similarity the float32 of its float64 value."""
    ref = exact_graph(emb, tau, k)
    np.testing.assert_array_equal(graph.indptr, ref.indptr)
    np.testing.assert_array_equal(graph.indices, ref.indices)
    assert graph.symmetric == ref.symmetric
    rows = np.repeat(np.arange(graph.n), graph.degrees())
    loops = rows == graph.indices
    assert np.all(graph.sims[loops] == 1.0)
    expected = float64_sims(emb, rows[~loops], graph.indices[~loops]).astype(np.float32)
    np.testing.assert_array_equal(graph.sims[~loops], expected)
    # exact_graph's own similarities are float32 products except near tau
    np.testing.assert_allclose(graph.sims, ref.sims, rtol=0, atol=0.5 * cosine_margin(emb.shape[1]) + 6e-8)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(1, 60),
    dim=st.integers(1, 8),
    tau=st.sampled_from([0.975, 0.9, 0.6, 0.2]),
    dtype=st.sampled_from(DTYPES),
    block=st.integers(1, 23),
)
def test_numpy_on_the_cpu_gives_the_exact_graph(seed, n, dim, tau, dtype, block):
    emb = near_threshold_embeddings(seed, n, dim, tau, near=6)
    graph = torch_graph(emb, tau, dtype=dtype, block_rows=block, block_cols=block + 5)
    assert_exact(graph, emb, tau)
    assert graph.symmetric and graph.tau == tau


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(2, 50),
    dim=st.integers(2, 6),
    tau=st.sampled_from([0.9, 0.6]),
    k=st.integers(0, 6),
    dtype=st.sampled_from(DTYPES),
)
def test_k_cap_keeps_the_k_most_similar_of_the_exact_rows(seed, n, dim, tau, k, dtype):
    emb = near_threshold_embeddings(seed, n, dim, tau, near=4)
    full = torch_graph(emb, tau, dtype=dtype)
    capped = torch_graph(emb, tau, k, dtype=dtype, block_rows=7, block_cols=9)
    assert not capped.symmetric
    for x in range(n):  # the k largest float64 similarities, ties to the lower index
        cols = full.row(x)[0]
        cols = cols[cols != x]
        sims = float64_sims(emb, np.full(cols.size, x), cols)
        others = sorted(zip((-sims).tolist(), cols.tolist()))[:k]
        assert capped.row(x)[0].tolist() == sorted([x] + [c for _, c in others])
    # exact_graph caps on its float32 products: the same rows wherever no tie is that close
    ref = exact_graph(emb, tau, k)
    gap = cosine_margin(dim) + 2.4e-7
    for x in range(n):
        sims = np.sort(full.row(x)[1])[::-1][1:]  # without the self-loop
        if k == 0 or sims.size <= k or sims[k - 1] - sims[k] > gap:
            assert capped.row(x)[0].tolist() == ref.row(x)[0].tolist()


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(1, 50),
    dim=st.integers(1, 6),
    tau=st.sampled_from([0.975, 0.6, 0.1]),
    dtype=st.sampled_from(DTYPES),
)
def test_a_tensor_takes_the_torch_path_and_gives_the_same_graph(seed, n, dim, tau, dtype):
    emb = near_threshold_embeddings(seed, n, dim, tau, near=5)
    host = torch_graph(emb, tau, dtype=dtype)
    tensor = torch_graph(torch.from_numpy(emb), tau, dtype=dtype, block_rows=5, block_cols=11)
    np.testing.assert_array_equal(tensor.indptr, host.indptr)
    np.testing.assert_array_equal(tensor.indices, host.indices)
    # float64 sums in torch's order: the float32 similarities agree to the last bit but one
    assert np.all(np.abs(tensor.sims - host.sims) <= np.spacing(host.sims))


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(1, 40),
    share=st.floats(0.0, 1.0),
    levels=st.integers(1, 6),
    k=st.one_of(st.none(), st.integers(0, 6)),
)
def test_device_csr_is_assemble_graph(seed, n, share, levels, k):
    """Sorting on the device gives assemble_graph's CSR, ties in similarity included."""
    rng = np.random.default_rng(seed)
    rows, cols = np.triu_indices(n, 1)
    keep = rng.random(rows.size) < share
    rows, cols = rows[keep].astype(np.int32), cols[keep].astype(np.int32)
    sims = rng.integers(0, levels, rows.size) / levels * 0.1 + 0.9  # few values: many ties
    want = assemble_graph(n, rows, cols, sims, 0.9, k)
    got = device_csr(n, torch.from_numpy(rows), torch.from_numpy(cols), torch.from_numpy(sims), 0.9, k)
    for name in ("indptr", "indices", "sims"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
        assert getattr(got, name).dtype == getattr(want, name).dtype
    assert (got.tau, got.symmetric) == (want.tau, want.symmetric)


def test_candidates_in_slabs_give_the_same_graph(monkeypatch):
    """A tile with more candidates than may be held at once is split by rows."""
    emb = near_threshold_embeddings(3, 200, 4, 0.6, near=10)
    whole = torch_graph(emb, 0.2)
    monkeypatch.setattr(backend, "_tile_shape", lambda *args: (64, 128, 128, 1024))
    sliced = torch_graph(emb, 0.2)
    np.testing.assert_array_equal(sliced.indices, whole.indices)
    np.testing.assert_array_equal(sliced.sims, whole.sims)


def adversarial_unit(dim: int, dtype: str, rng: np.random.Generator) -> np.ndarray:
    """A float64 unit vector most of whose entries lose 0.98 u of their value in ``dtype``.

    Entries ``±2**-e (1 + 0.98 u)`` sit just below the midpoint above ``2**-e``, the start
    of a binade, so each rounds down by almost half a spacing (``2 u 2**-e``); a few small
    entries make up the norm. The rounded vector's squared norm is about ``1 - 1.96 u``.
    """
    u = UNIT_ROUNDOFF[dtype]
    e = int(np.floor(np.log2(np.sqrt(dim))))
    count = min(dim - 1, int(0.95 * 4**e))
    big = 2.0**-e * (1.0 + 0.98 * u)
    rest = dim - count
    vec = np.full(dim, np.sqrt((1.0 - count * big * big) / rest))
    vec[:count] = big
    return vec * rng.choice([-1.0, 1.0], size=dim)


def low_precision_products(unit64: np.ndarray, dtype: str) -> np.ndarray:
    """The products torch_graph compares with its threshold (rows stored in ``dtype``)."""
    unit, _ = torch_unit_rows(torch.from_numpy(unit64), getattr(torch, dtype))
    with full_precision_matmul():
        return (unit @ unit.T).double().numpy()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [64, 300, 1024])
def test_the_error_band_holds_and_is_tight_on_adversarial_inputs(dtype, dim):
    rng = np.random.default_rng(dim)
    u = UNIT_ROUNDOFF[dtype]
    adversarial = np.stack([adversarial_unit(dim, dtype, rng) for _ in range(4)])
    randoms = rng.normal(size=(60, dim)) + rng.normal(size=dim)  # cosines spread over (-1, 1)
    rows = np.concatenate([adversarial, randoms / np.linalg.norm(randoms, axis=1, keepdims=True)])
    exact = rows @ rows.T
    err = np.abs(low_precision_products(rows, dtype) - exact)
    # the product rounded to dtype on output: monotone, so the band needs no term for it
    assert err.max() <= product_margin(dim, dtype) + u
    if dtype != "float32":  # float32 sums err as much as its inputs: no clean tightness check
        assert np.diag(err)[:4].min() >= 0.8 * 2 * u  # the input term 2u of the bound is reached


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_pair_that_rounding_pushes_below_tau_is_found(dtype, monkeypatch):
    """Duplicates whose low-precision product falls ~2u below 1: only the band keeps them."""
    u = UNIT_ROUNDOFF[dtype]
    vec = adversarial_unit(256, dtype, np.random.default_rng(0))
    emb = np.stack([vec, vec, np.roll(vec, 1)])
    product = low_precision_products(emb[:2], dtype)[0, 1]
    assert 1.0 - product >= 1.5 * u
    tau = 0.5 + 0.25 * (product + 1.0)  # threshold on the cosine halfway between it and 1
    assert torch_graph(emb, tau, dtype=dtype).row(0)[0].tolist() == [0, 1]
    assert_exact(torch_graph(emb, tau, dtype=dtype), emb, tau)
    # with a band too narrow for the dtype, the pair would be lost
    monkeypatch.setattr(backend, "product_margin", lambda dim, name: 0.1 * u)
    assert torch_graph(emb, tau, dtype=dtype).row(0)[0].tolist() == [0]


def test_product_margin_values():
    assert product_margin(2048, "float16") == pytest.approx(1.47e-3, rel=0.01)
    assert product_margin(2048, "bfloat16") == pytest.approx(8.32e-3, rel=0.01)
    # the float32 bound is below cosine_margin's, which adds 1e-7 and a factor 1.1
    assert product_margin(512, "float32") < cosine_margin(512)
    with pytest.raises(ValueError, match="dtype"):
        product_margin(8, "float64")


def test_zero_rows_only_neighbour_themselves_even_at_tau_zero():
    emb = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [-1.0, 0.1]])
    graph = torch_graph(emb, 0.0, dtype="float16")
    assert graph.row(0)[0].tolist() == [0] and graph.row(2)[0].tolist() == [2]
    assert graph.row(1)[0].tolist() == [1, 3]
    assert not np.any(np.isnan(graph.sims))


def test_max_edges_raises_the_typed_error():
    with pytest.raises(GraphTooLargeError, match="max_edges"):
        torch_graph(np.ones((50, 2)), 0.5, max_edges=100)
    assert torch_graph(np.ones((10, 2)), 0.5, max_edges=90).nnz == 100


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"embeddings": np.array([[np.nan, 1.0]])}, "NaN"),
        ({"embeddings": torch.tensor([[1.0, float("inf")]])}, "NaN"),
        ({"embeddings": np.zeros((0, 3))}, "embeddings"),
        ({"embeddings": np.zeros(4)}, "embeddings"),
        ({"dtype": "float64"}, "dtype"),
        ({"device": "tpu"}, "device"),
        ({"tau": 1.0}, "tau"),
        ({"k": -1}, "k"),
        ({"block_rows": 0, "block_cols": 4}, "block_rows"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    args = {"embeddings": np.ones((3, 2)), "tau": 0.9, **kwargs}
    with pytest.raises(ValueError, match=match):
        torch_graph(**args)


def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"`device`.*sees no CUDA GPU.*got 'cuda'"):
        torch_graph(np.ones((3, 2)), 0.9, device="cuda")


def test_progress_bar_and_integer_or_half_inputs(capsys):
    emb = np.random.default_rng(0).integers(-3, 4, size=(40, 3))
    tau = 0.9137  # no integer vectors have 0.5 + 0.5 cos exactly at tau
    graph = torch_graph(emb, tau, progress=True, block_rows=8, block_cols=8)
    assert "neighbour graph (torch)" in capsys.readouterr().err
    np.testing.assert_array_equal(dense_of(graph) > 0, similarity_matrix(emb, tau) > 0)
    half = torch_graph(torch.from_numpy(emb.astype(np.float16)), tau)
    np.testing.assert_array_equal(half.indices, graph.indices)


def test_arrays_are_copied_to_the_device_chunk_by_chunk(tmp_path):
    emb = np.random.default_rng(0).normal(size=(37, 3)).astype(np.float16)
    np.save(tmp_path / "emb.npy", emb)
    mapped = np.load(tmp_path / "emb.npy", mmap_mode="r")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns about read-only arrays
        out = backend._on_device(mapped, torch.device("cpu"), chunk=8)
    assert out.dtype == torch.float16 and torch.equal(out, torch.from_numpy(emb))
    assert backend._on_device(np.arange(6).reshape(3, 2), torch.device("cpu")).dtype == torch.float64


def test_a_memory_map_gives_the_graph_of_the_array(tmp_path):
    emb = near_threshold_embeddings(11, 300, 5, 0.9, near=20)
    np.save(tmp_path / "emb.npy", emb)
    mapped = torch_graph(np.load(tmp_path / "emb.npy", mmap_mode="r"), 0.9, block_rows=64)
    np.testing.assert_array_equal(mapped.indices, torch_graph(emb, 0.9).indices)
    assert_exact(mapped, emb, 0.9)


def test_full_precision_matmul_restores_the_settings():
    matmul = torch.backends.cuda.matmul
    before = torch.get_float32_matmul_precision(), matmul.allow_fp16_reduced_precision_reduction
    torch.set_float32_matmul_precision("high")
    try:
        with full_precision_matmul():
            assert torch.get_float32_matmul_precision() == "highest"
            assert not matmul.allow_fp16_reduced_precision_reduction
            assert not matmul.allow_bf16_reduced_precision_reduction
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision(before[0])
    assert matmul.allow_fp16_reduced_precision_reduction == before[1]


def test_cuda_tile_shape_follows_the_free_memory(monkeypatch):
    """The CUDA sizing decisions, on any machine: free memory is all they read."""
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda dev=None: (64 * 2**30, 80 * 2**30))
    rows, cols, hold, batch = backend._tile_shape(1_281_167, 2048, cuda, 2, None, None)
    assert (rows, cols) == (16384, 65536)  # 2**30 entries: the nonzero cap binds first
    assert hold == 64 * 2**30 // 256 and batch == 64 * 2**30 // 8 // (24 * 2048 + 64)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda dev=None: (2**30, 80 * 2**30))
    rows, cols, hold, batch = backend._tile_shape(50_000, 512, cuda, 2, None, None)
    assert rows == 16384 and cols == 2**30 // 4 // (16384 * 3)  # a quarter of 1 GiB
    assert backend._tile_shape(100, 8, cuda, 2, None, None)[:2] == (100, 100)
    assert backend._tile_shape(100, 8, cuda, 2, 7, 9)[:2] == (7, 9)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda dev=None: (2**20, 80 * 2**30))
    assert backend._tile_shape(10**6, 2048, cuda, 2, None, None)[1:] == (1024, 4096, 1024)


def test_inputs_are_left_untouched():
    emb = np.random.default_rng(0).normal(size=(30, 4))
    copy = emb.copy()
    torch_graph(torch.from_numpy(emb), 0.6)
    torch_graph(emb, 0.6, dtype="float16")
    np.testing.assert_array_equal(emb, copy)


# ---------------------------------------------------------------- on a CUDA device


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["auto", *DTYPES])
def test_cuda_gives_the_cpu_graph(dtype):
    emb = near_threshold_embeddings(7, 3000, 48, 0.9, near=40)
    host = torch_graph(emb, 0.9, dtype="float32")
    for source in (emb, torch.from_numpy(emb).cuda()):
        graph = torch_graph(source, 0.9, device="cuda", dtype=dtype, block_rows=512, block_cols=1024)
        np.testing.assert_array_equal(graph.indptr, host.indptr)
        np.testing.assert_array_equal(graph.indices, host.indices)
        assert np.all(np.abs(graph.sims - host.sims) <= np.spacing(host.sims))
    capped = torch_graph(emb, 0.9, 5, device="cuda", dtype=dtype)
    np.testing.assert_array_equal(capped.indices, torch_graph(emb, 0.9, 5).indices)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_cuda_products_stay_in_the_band_with_tf32_allowed(dtype):
    rng = np.random.default_rng(1)
    dim = 2048
    rows = np.concatenate([np.stack([adversarial_unit(dim, dtype, rng) for _ in range(8)]),
                           rng.normal(size=(4000, dim)) + rng.normal(size=dim)])
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    unit, _ = torch_unit_rows(torch.from_numpy(rows).cuda(), getattr(torch, dtype))
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium")  # full_precision_matmul must switch TF32 off
    try:
        with full_precision_matmul():
            products = (unit @ unit.T).double().cpu().numpy()
    finally:
        torch.set_float32_matmul_precision(before)
    err = np.abs(products - rows @ rows.T)
    assert err.max() <= product_margin(dim, dtype) + UNIT_ROUNDOFF[dtype]


@pytest.mark.gpu
def test_cuda_tile_sizes_come_from_free_memory():
    rows, cols, hold, batch = backend._tile_shape(10**6, 2048, torch.device("cuda"), 2, None, None)
    assert rows == 16384 and 1024 <= cols <= 65536 and hold >= cols and batch >= 1024
    assert backend._tile_shape(100, 8, torch.device("cuda"), 2, None, 512)[:2] == (100, 512)
