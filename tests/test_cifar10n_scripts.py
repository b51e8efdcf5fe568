"""The CIFAR-10N benchmark scripts' helpers: grid configs, saved re-labels, AUROC and bins."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from prune4rel.data import from_arrays
from prune4rel.pipeline import RunConfig, run_experiment

SCRIPTS = Path(__file__).resolve().parents[1] / "benchmarks" / "cifar10n"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"cifar10n_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


grid = load_script("grid")
relabel = load_script("relabel_vs_confidence")


@pytest.fixture(scope="module")
def blobs_path(tmp_path_factory):
    """Three Gaussian blobs in 6-D, 30% symmetric noise on 120 training examples."""
    rng = np.random.default_rng(1)
    centers = rng.normal(scale=3.0, size=(3, 6))

    def blobs(n):
        y = rng.integers(0, 3, n)
        return (centers[y] + rng.normal(size=(n, 6))).astype(np.float32), y

    x, clean = blobs(120)
    x_test, y_test = blobs(30)
    noisy = clean.copy()
    flip = rng.choice(120, 36, replace=False)
    noisy[flip] = (clean[flip] + rng.integers(1, 3, 36)) % 3
    path = tmp_path_factory.mktemp("data") / "blobs.npz"
    np.savez(path, x_train=x, y_train=noisy, x_test=x_test, y_test=y_test, clean=clean)
    return path


def test_saved_relabels_match_subsets_and_feed_the_analysis(blobs_path, tmp_path):
    learner = {"num_threads": 1, "batch_size": 32, "lr": 0.05}
    config = RunConfig.from_dict({
        "seed": 0,
        "data": {"dataset": "arrays", "path": str(blobs_path)},
        "warmup": {"epochs": 2, "model": "mlp", "params": learner},
        "selection": {"methods": ["prune4rel_agree", "uniform"], "fractions": [0.5],
                      "params": {"prune4rel_agree": {"tau": 0.9}}},
        "train": {"learner": "sop+", "epochs": 2, "model": "mlp", "params": learner},
    })
    res = run_experiment(config, tmp_path, progress=False, callbacks=[grid.SaveRelabels(tmp_path)])
    for r in res["results"]:
        meta = json.loads((tmp_path / f"subset_{r['method']}_0.5.json").read_text())
        subset = np.load(tmp_path / f"subset_{r['method']}_0.5.npy")
        assert grid.indices_digest(subset) == meta["indices"]
        corrected = np.load(tmp_path / f"relabel_{meta['indices']}.npy")
        clean = np.load(blobs_path)["clean"]
        assert corrected.shape == (120,)
        assert np.mean(corrected[subset] == clean[subset]) == pytest.approx(r["relabel_acc"])
    records = relabel.analyse(tmp_path, "agree", 0.9, bins=3)
    assert {r["method"] for r in records} == {"prune4rel_agree", "uniform"}
    for rec in records:
        assert "missing" not in rec and sum(b["count"] for b in rec["bins"]) == 60
        assert rec["relabel_acc"] == pytest.approx(
            next(r for r in res["results"] if r["method"] == rec["method"])["relabel_acc"])
    png = tmp_path / "relabel.png"
    relabel.plot(records, png, "agree")
    assert png.stat().st_size > 0


def test_missing_relabels_are_reported(blobs_path, tmp_path):
    learner = {"num_threads": 1, "batch_size": 32, "lr": 0.05}
    config = RunConfig.from_dict({
        "seed": 0, "data": {"dataset": "arrays", "path": str(blobs_path)},
        "warmup": {"epochs": 1, "model": "mlp", "params": learner},
        "selection": {"methods": ["uniform"], "fractions": [0.5]},
        "train": {"learner": "ce", "epochs": 1, "model": "mlp", "params": learner},
    })
    run_experiment(config, tmp_path, progress=False)
    (rec,) = relabel.analyse(tmp_path, "max_prob", 0.975, bins=4)
    assert rec["missing"].startswith("relabel_")


def test_auroc_and_bins_by_hand():
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    positive = np.array([False, True, False, True])
    assert relabel.auroc(scores, positive) == pytest.approx(1.0)
    assert relabel.auroc(np.array([1.0, 1.0]), np.array([True, False])) == pytest.approx(0.5)
    assert relabel.auroc(scores, np.ones(4, dtype=bool)) is None
    bins = relabel.binned(scores, positive, 2)
    assert [b["relabel_acc"] for b in bins] == [0.0, 1.0]
    assert [b["count"] for b in bins] == [2, 2]


@pytest.mark.parametrize("protocol", ["paper", "fast"])
@pytest.mark.parametrize("learner", ["sop+", "dividemix", "ce"])
def test_grid_configs_are_valid(protocol, learner, tmp_path):
    args = grid.main.__globals__["argparse"].Namespace(
        protocol=protocol, device="cpu", threads=2, widths=None, warmup_epochs=None, epochs=None,
        methods=["uniform", "prune4rel_agree"], tau=None, fractions=[0.2, 0.4], data=str(tmp_path),
        test_set="exact1k", train_subset=10000, target_degree=None,
    )
    config = grid.run_config(args, "worst", learner, 0)
    assert config.selection.params == {}
    args.target_degree = 20.0
    calibrated = grid.run_config(args, "worst", learner, 0)
    assert calibrated.selection.params == {"prune4rel_agree": {"target_degree": 20.0}}
    assert config.train.learner == learner
    assert config.warmup.learner == ("ce" if learner == "dividemix" else learner)
    assert config.train.model == ("preact_resnet18" if protocol == "paper" else "small_cnn")
    assert config.train.epochs == (300 if protocol == "paper" else 6)


def test_dividemix_check_subsets_and_fast_settings():
    check = load_script("dividemix_check")
    rng = np.random.default_rng(0)
    clean = np.arange(500) % 5
    noisy = clean.copy()
    flip = rng.choice(500, 200, replace=False)
    noisy[flip] = (clean[flip] + 1) % 5
    x = rng.normal(size=(500, 4)).astype(np.float32)
    ds = from_arrays(x, noisy, x[:10], clean[:10], clean_labels=clean, num_classes=5)
    picked = check.subsets(ds, 0.2, seed=0)
    assert set(picked) == set(check.CASES)
    for idx in picked.values():
        assert idx.size == 100 and np.all(np.diff(idx) > 0)
    assert np.sum(noisy[picked["low_noise"]] != clean[picked["low_noise"]]) == 2
    assert 0.25 < np.mean(noisy[picked["uniform"]] != clean[picked["uniform"]]) < 0.55
    assert grid.dividemix_fast_params(12) == {"warmup_epochs": 2, "rampup_epochs": 3, "lambda_u": 0.0}
    with pytest.raises(ValueError, match="clean labels"):
        check.subsets(from_arrays(x, noisy, x[:10], clean[:10], num_classes=5), 0.2, seed=0)
