"""calibrate_tau on tensors and CUDA devices: the same thresholds, and exact pair counts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from prune4rel.neighbors import calibrate_tau, exact_graph

#: (seed, n, d, target, sample, chunk) -> tau, computed before calibration ran on tensors
PINNED = [
    ((0, 500, 12, 10.0, 128, 8192), 0.896444782614708),
    ((1, 300, 5, 3.0, 300, 7), 0.9911631047725677),
    ((2, 1000, 64, 25.0, 200, 100), 0.8097216933965683),
    ((3, 257, 3, 1.5, 64, 50), 0.9986423850059509),
]


def pinned_embeddings(seed: int, n: int, dim: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    emb = (rng.normal(size=(n, dim)) + rng.normal(size=dim)).astype(np.float32)
    emb[rng.random(n) < 0.05] = 0
    return emb


def pair_count(emb: np.ndarray, tau: float) -> int:
    """Ordered pairs i != j of non-zero rows with float64 ``0.5 + 0.5 cos > tau``."""
    e = np.asarray(emb, dtype=np.float64)
    norms = np.linalg.norm(e, axis=1)
    live = norms > 0
    unit = e[live] / norms[live, None]
    sims = 0.5 + 0.5 * unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    return int(np.sum(sims > tau))


@pytest.mark.parametrize(("args", "tau"), PINNED)
def test_numpy_on_the_cpu_gives_the_thresholds_it_gave_before(args, tau):
    seed, n, dim, target, sample, chunk = args
    emb = pinned_embeddings(seed, n, dim)
    assert calibrate_tau(emb, target, sample=sample, seed=seed, chunk=chunk) == tau
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium")  # a user's global setting changes nothing
    try:
        assert calibrate_tau(emb, target, sample=sample, seed=seed, chunk=chunk) == tau
    finally:
        torch.set_float32_matmul_precision(before)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(2, 70),
    dim=st.integers(2, 8),
    share=st.floats(0.01, 1.0),
    dtype=st.sampled_from([torch.float64, torch.float32, torch.float16]),
)
def test_a_tensor_with_every_row_as_query_gives_the_exact_pair_count(seed, n, dim, share, dtype):
    rng = np.random.default_rng(seed)
    emb = torch.from_numpy(rng.normal(size=(n, dim)) + rng.normal(size=dim)).to(dtype)
    emb[torch.from_numpy(rng.random(n) < 0.2)] = 0.0
    values = emb.double().numpy()
    pairs = pair_count(values, -1.0)
    if pairs == 0:
        with pytest.raises(ValueError, match="neighbour pairs"):
            calibrate_tau(emb, 1.0, sample=n)
        return
    k = 2 * max(1, round(share * pairs / 2))
    tau = calibrate_tau(emb, k / n, sample=n, chunk=7)
    live = [tuple(r) for r in values.tolist() if any(r)]
    if len(set(live)) < len(live):
        return  # rows that coincide after rounding to float16 tie: counts may overshoot
    assert pair_count(values, tau) == k
    assert exact_graph(values, tau).nnz - n == k


def test_a_tensor_and_its_array_give_the_same_threshold():
    emb = pinned_embeddings(4, 800, 16)
    for sample in (100, 800):
        expected = calibrate_tau(emb, 12.0, sample=sample, chunk=97)
        assert calibrate_tau(torch.from_numpy(emb), 12.0, sample=sample, chunk=97) == pytest.approx(
            expected, abs=1e-7
        )


def test_calibration_leaves_a_float64_tensor_untouched():
    emb = torch.from_numpy(pinned_embeddings(5, 100, 4).astype(np.float64))
    copy = emb.clone()
    calibrate_tau(emb, 3.0, sample=50)
    assert torch.equal(emb, copy)


@pytest.mark.gpu
@pytest.mark.parametrize("on_gpu", [False, True])
def test_cuda_gives_the_exact_pair_count_with_tf32_allowed(on_gpu):
    rng = np.random.default_rng(0)  # few rows: neighbouring cosines lie far apart
    emb = (rng.normal(size=(400, 32)) + 0.3 * rng.normal(size=32)).astype(np.float32)
    source = torch.from_numpy(emb).cuda() if on_gpu else emb
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium")  # TF32 would shift cosines by ~1e-3
    try:
        tau = calibrate_tau(source, 10.0, sample=400, device="cuda", chunk=150)
    finally:
        torch.set_float32_matmul_precision(before)
    assert pair_count(emb, tau) == 10 * 400
    assert tau == pytest.approx(calibrate_tau(emb, 10.0, sample=400), abs=1e-6)
