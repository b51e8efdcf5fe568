"""prune4rel inspect: the per-example table against brute-force definitions, its CSV and
Parquet files, the plots, the summary, and the command."""

from __future__ import annotations

import csv

import numpy as np
import oracle
import pytest
from click.testing import CliRunner
from conftest import softmax

from prune4rel import Signals
from prune4rel.cli import main
from prune4rel.inspect import binned_accuracy, example_table, inspect_signals, write_table_csv
from prune4rel.neighbors import build_graph
from prune4rel.selection import get_selector

TAU = 0.9
PNG = b"\x89PNG\r\n\x1a\n"


def make_signals(n: int = 240, classes: int = 3, clean: bool = True, seed: int = 0) -> Signals:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, n)
    emb = rng.normal(size=(classes, 6))[truth] * 2 + rng.normal(size=(n, 6))
    labels = truth.copy()
    flip = rng.random(n) < 0.3
    labels[flip] = (truth[flip] + 1) % classes
    probs = softmax(2.0 * np.eye(classes)[truth] + rng.normal(size=(n, classes)))
    losses = rng.random((3, n))
    return Signals(labels=labels, probs=probs, embeddings=emb, losses=losses,
                   clean_labels=truth if clean else None)


def test_table_columns_match_the_definitions():
    sig = make_signals()
    graph = build_graph(sig.embeddings, TAU)
    sels = {m: get_selector(m, **p).select(sig, 0.25)
            for m, p in (("prune4rel", {"tau": TAU}), ("small_loss", {}))}
    table = example_table(sig, graph, sels)
    assert list(table) == [
        "index", "given_label", "predicted_label", "confidence", "given_prob", "agrees", "degree",
        "nbr_conf_prune4rel", "rank_prune4rel", "nbr_conf_small_loss", "rank_small_loss",
        "clean_label", "label_is_wrong",
    ]
    w = oracle.similarity_matrix(sig.embeddings, TAU)
    np.testing.assert_array_equal(table["degree"], (w > 0).sum(axis=1) - 1)
    conf = oracle.conf_of(sig.probs, "max_prob")
    np.testing.assert_allclose(table["confidence"], conf)
    np.testing.assert_array_equal(table["agrees"], sig.probs.argmax(1) == sig.labels)
    np.testing.assert_allclose(table["given_prob"], sig.probs[np.arange(sig.n), sig.labels])
    for method, sel in sels.items():
        mask = np.zeros(sig.n)
        mask[sel.indices] = 1.0
        np.testing.assert_allclose(table[f"nbr_conf_{method}"], w @ (conf * mask), rtol=1e-5, atol=1e-6)
        rank = table[f"rank_{method}"]
        assert rank.count() == len(sel)
        np.testing.assert_array_equal(rank[sel.indices], np.arange(1, len(sel) + 1))
    # the selector's own N(x; S) is the same quantity
    own = sels["prune4rel"].extras["neighborhood_confidence"]
    np.testing.assert_allclose(table["nbr_conf_prune4rel"], own, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(table["label_is_wrong"], sig.labels != sig.clean_labels)


def test_csv_writes_booleans_as_digits_and_unselected_ranks_empty(tmp_path):
    table = {
        "index": np.arange(3),
        "agrees": np.array([True, False, True]),
        "confidence": np.array([0.5, 0.25, 1 / 3]),
        "rank_m": np.ma.masked_array([2, 0, 1], mask=[False, True, False]),
    }
    path = write_table_csv(table, tmp_path / "t.csv")
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["index", "agrees", "confidence", "rank_m"]
    assert rows[1:] == [["0", "1", "0.5", "2"], ["1", "0", "0.25", ""], ["2", "1", repr(1 / 3), "1"]]


def test_binned_accuracy_puts_zero_apart_and_splits_the_rest_by_quantiles():
    nbr = np.array([0, 0, 1, 2, 3, 4, 5, 6, 7, 8], dtype=float)
    correct = np.array([0, 1, 0, 0, 0, 1, 1, 1, 1, 1], dtype=bool)
    rows = binned_accuracy(nbr, correct, bins=2)
    assert [r["count"] for r in rows] == [2, 4, 4]
    assert [r["accuracy"] for r in rows] == [0.5, 0.25, 1.0]
    assert (rows[1]["lo"], rows[1]["hi"], rows[2]["lo"], rows[2]["hi"]) == (1, 4, 5, 8)


def test_inspect_signals_writes_every_file(tmp_path):
    pytest.importorskip("pyarrow", reason="needs the [hf] extra")
    import pyarrow.parquet as pq

    sig = make_signals()
    lines: list[str] = []
    res = inspect_signals(sig, tmp_path / "out", methods=["prune4rel", "uniform"], fraction=0.3, tau=TAU,
                          params={"uniform": {"seed": 1}}, source="s.npz", progress=False, log=lines.append)
    names = {p.name for p in res.files.values()}
    assert names == {"examples.csv", "examples.parquet", "confidence.png", "degree.png",
                     "relabel_vs_neighborhood.png", "summary.md"}
    for png in ("confidence.png", "degree.png", "relabel_vs_neighborhood.png"):
        assert (tmp_path / "out" / png).read_bytes()[:8] == PNG
    parquet = pq.read_table(tmp_path / "out" / "examples.parquet")
    assert parquet.num_rows == sig.n and parquet.column("rank_uniform").null_count == sig.n - 72
    rows = list(csv.DictReader((tmp_path / "out" / "examples.csv").open()))
    assert len(rows) == sig.n and sum(r["rank_prune4rel"] != "" for r in rows) == 72
    assert res.selections["uniform"].params["seed"] == 1
    assert res.selections["prune4rel"].extras["tau"] == TAU  # --tau reaches the selector
    summary = (tmp_path / "out" / "summary.md").read_text()
    truth = np.mean(sig.labels != sig.clean_labels)
    assert f"| clean labels | {truth:.1%} |" in summary
    assert f"| disagreement | {np.mean(sig.probs.argmax(1) != sig.labels):.1%} |" in summary
    assert "## What to keep" in summary and "## Re-labeling correctness by N(x; S), S = prune4rel" in summary
    assert any(line.startswith("graph:") for line in lines) and lines[-1].startswith("wrote 6 files")
    assert set(res.seconds) == {"graph", "select_prune4rel", "select_uniform", "table", "plots", "total"}


def test_without_clean_labels_the_relabel_figure_is_skipped(tmp_path):
    res = inspect_signals(make_signals(clean=False), tmp_path, methods=["small_loss"], tau=TAU,
                          progress=False, log=None)
    assert "relabel_png" not in res.files and "label_is_wrong" not in res.table
    assert any("no clean labels" in note for note in res.notes)
    summary = (tmp_path / "summary.md").read_text()
    assert "clean labels |" not in summary and "no clean labels" in summary


def test_an_unknown_method_fails_before_the_graph(tmp_path, monkeypatch):
    import prune4rel.inspect.run as run_module

    monkeypatch.setattr(run_module, "build_graph", lambda *a, **k: pytest.fail("graph built"))
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        inspect_signals(make_signals(), tmp_path, methods=["prune4rel", "nope"], log=None)
    with pytest.raises(ValueError, match="`tau`"):
        inspect_signals(make_signals(), tmp_path, params={"prune4rel": {"tau": 2}}, log=None)


def test_the_command(tmp_path):
    sig = make_signals(clean=False)
    sig.save(tmp_path / "s.npz")
    np.savez(tmp_path / "labels.npz", truth=make_signals().clean_labels)
    args = ["inspect", str(tmp_path / "s.npz"), "--out", str(tmp_path / "out"), "--method",
            "prune4rel,small_loss", "--fraction", "0.5", "--tau", str(TAU), "--clean-labels",
            f"{tmp_path / 'labels.npz'}:truth", "--param", "small_loss.balance=true", "--quiet"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "relabel_vs_neighborhood.png" in res.output and "graph:" not in res.output
    rows = list(csv.DictReader((tmp_path / "out" / "examples.csv").open()))
    assert [int(r["clean_label"]) for r in rows] == make_signals().clean_labels.tolist()
    bad = CliRunner().invoke(main, [*args[:4], "--param", "balance=true"])
    assert bad.exit_code == 2 and "METHOD.KEY=VALUE" in bad.output
    missing = CliRunner().invoke(main, [*args[:4], "--clean-labels", f"{tmp_path / 'labels.npz'}:y"])
    assert missing.exit_code == 2 and "has no array 'y'" in missing.output


@pytest.mark.realdata
def test_the_shared_worst_signals_table(shared_data, tmp_path):
    with np.load(shared_data / "cifar10n_worst_signals_smallcnn.npz") as npz:
        arrays = {k: npz[k][:3000] for k in ("labels", "probs", "embeddings")}
    with np.load(shared_data / "cifar10n_labels.npz") as npz:
        arrays["clean_labels"] = npz["clean_label"][:3000]
    res = inspect_signals(Signals.from_arrays(arrays), tmp_path, methods=["prune4rel_agree"],
                          progress=False, log=None)
    assert res.table["index"].size == 3000
    assert abs(res.noise[-1].rate - np.mean(arrays["labels"] != arrays["clean_labels"])) < 1e-12
