"""Embeddings from a memory-mapped .npy file: same results, no second n x d copy."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import softmax

from prune4rel import Signals
from prune4rel.neighbors import exact_graph, unit_rows
from prune4rel.neighbors.clusters import ClusterPlan
from prune4rel.neighbors.similarity import cosine_margin
from prune4rel.selection import Prune4ReL


@pytest.fixture
def mapped(tmp_path):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(30, 16))
    emb = (centers[rng.integers(0, 30, size=900)] + 0.2 * rng.normal(size=(900, 16))).astype(np.float32)
    emb[3] = 0.0
    path = tmp_path / "emb.npy"
    np.save(path, emb)
    mm = np.load(path, mmap_mode="r")
    assert isinstance(mm, np.memmap)
    return emb, mm


def same_graph(a, b) -> None:
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.sims, b.sims)


@pytest.mark.parametrize("prune", ["none", "clusters"])
def test_exact_graph_reads_a_memory_map(mapped, prune):
    emb, mm = mapped
    same_graph(exact_graph(mm, 0.9, prune=prune), exact_graph(emb, 0.9, prune=prune))
    same_graph(exact_graph(mm, 0.9, 3, prune=prune), exact_graph(emb, 0.9, 3, prune=prune))


def test_unit_rows_reads_in_chunks(mapped):
    emb, mm = mapped
    unit, norms = unit_rows(mm, chunk=64)
    ref_unit, ref_norms = unit_rows(emb)
    np.testing.assert_array_equal(unit, ref_unit)
    np.testing.assert_array_equal(norms, ref_norms)


def test_cluster_plan_keeps_one_copy_of_the_unit_rows(mapped):
    _, mm = mapped
    unit, norms = unit_rows(mm)
    plan = ClusterPlan(unit, norms > 0, 0.8, cosine_margin(16), None, 128)
    assert plan.unit is unit  # rows are gathered per block through plan.ids


def test_signals_keep_the_map_and_selection_matches(mapped):
    emb, mm = mapped
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, size=900)
    probs = softmax(rng.normal(size=(900, 3)))
    sig_map = Signals(labels=labels, probs=probs, embeddings=mm)
    assert not sig_map.embeddings.flags.owndata and np.shares_memory(sig_map.embeddings, mm)
    sig_mem = Signals(labels=labels, probs=probs, embeddings=emb)
    for objective in ("published", "full"):
        a = Prune4ReL(tau=0.9, objective=objective).select(sig_map, 300)
        b = Prune4ReL(tau=0.9, objective=objective).select(sig_mem, 300)
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_array_equal(a.gains, b.gains)
    dense = Prune4ReL(tau=0.9, backend="dense").select(sig_map, 300)
    graph = Prune4ReL(tau=0.9, backend="graph").select(sig_mem, 300)
    np.testing.assert_array_equal(dense.indices, graph.indices)


def test_signals_reject_nan_in_a_map_chunk_by_chunk(tmp_path):
    emb = np.ones((50, 4), dtype=np.float32)
    emb[41, 2] = np.nan
    path = tmp_path / "bad.npy"
    np.save(path, emb)
    with pytest.raises(ValueError, match="1 NaN"):
        Signals(labels=np.zeros(50, int), probs=np.ones((50, 1)), embeddings=np.load(path, mmap_mode="r"))


def test_faiss_graph_reads_a_memory_map(mapped):
    pytest.importorskip("faiss")
    from prune4rel.neighbors import faiss_graph

    emb, mm = mapped
    a = faiss_graph(mm, 0.9, 40, index="flat", chunk=128)
    b = faiss_graph(emb, 0.9, 40, index="flat")
    same_graph(a, b)


def test_cli_select_reads_embeddings_from_a_npy_file(tmp_path, mapped):
    import json

    from click.testing import CliRunner

    from prune4rel.cli import main

    emb, _ = mapped
    n = emb.shape[0]
    rng = np.random.default_rng(2)
    labels, probs = rng.integers(0, 3, size=n), softmax(rng.normal(size=(n, 3)))
    Signals(labels=labels, probs=probs, embeddings=np.zeros((n, 1))).save(tmp_path / "s.npz")
    out = tmp_path / "subset.npy"
    args = ["select", str(tmp_path / "s.npz"), "--fraction", "0.3", "--tau", "0.9", "--out", str(out)]
    res = CliRunner().invoke(main, [*args, "--embeddings", str(tmp_path / "emb.npy"), "--engine", "python"])
    assert res.exit_code == 0, res.output
    expected = Prune4ReL(tau=0.9).select(Signals(labels=labels, probs=probs, embeddings=emb), 0.3)
    np.testing.assert_array_equal(np.load(out), expected.indices)
    assert json.loads(out.with_suffix(".json").read_text())["embeddings"].endswith("emb.npy")
    bad = tmp_path / "short.npy"
    np.save(bad, emb[:10])
    res = CliRunner().invoke(main, [*args, "--embeddings", str(bad)])
    assert res.exit_code != 0 and "embeddings" in res.output
