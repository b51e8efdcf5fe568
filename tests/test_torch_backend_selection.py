"""Prune4ReL and its variant on the tensor-core ``torch`` graph backend select what they select
on the exact CPU graph, and ``backend="auto"`` picks it on a GPU."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import softmax

from prune4rel.neighbors import build_graph
from prune4rel.selection import get_selector
from prune4rel.signals import Signals


def _signals(seed: int, n: int = 600, dim: int = 16, classes: int = 4) -> Signals:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(classes, dim))
    labels = rng.integers(0, classes, n)
    emb = centers[labels] + 0.35 * rng.normal(size=(n, dim))
    probs = softmax(2.0 * rng.normal(size=(n, classes)) + 3.0 * np.eye(classes)[labels])
    return Signals(labels=labels, probs=probs.astype(np.float32), embeddings=emb.astype(np.float32))


@pytest.mark.parametrize("method", ["prune4rel", "prune4rel_agree"])
@pytest.mark.parametrize("fraction", [0.2, 0.8])
def test_torch_backend_on_the_cpu_selects_as_the_exact_graph(method, fraction):
    signals = _signals(1)
    exact = get_selector(method, tau=0.9, backend="graph").select(signals, fraction)
    tensor = get_selector(method, tau=0.9, backend="torch").select(signals, fraction)
    assert np.array_equal(tensor.indices, exact.indices)
    assert str(tensor.extras["backend"]) == "torch"


def test_a_torch_graph_is_reused_by_a_selector_with_backend_auto():
    signals = _signals(2)
    graph = build_graph(signals.embeddings, 0.9, backend="torch")
    assert graph.backend == "torch"
    reused = get_selector("prune4rel", tau=0.9).select(signals, 0.3, graph=graph)
    own = get_selector("prune4rel", tau=0.9).select(signals, 0.3)
    assert np.array_equal(reused.indices, own.indices)


@pytest.mark.gpu
@pytest.mark.parametrize("method", ["prune4rel", "prune4rel_agree"])
def test_auto_on_a_gpu_builds_the_torch_graph_and_selects_as_the_cpu(method):
    signals = _signals(3, n=2000, dim=64)
    gpu = get_selector(method, tau=0.9, device="cuda").select(signals, 0.2)
    cpu = get_selector(method, tau=0.9).select(signals, 0.2)
    assert str(gpu.extras["backend"]) == "torch" and str(cpu.extras["backend"]) == "graph"
    assert np.array_equal(gpu.indices, cpu.indices)
