"""The CIFAR-10N benchmark scripts' helpers: grid configs, saved re-labels, AUROC and bins, and the
GPU protocol's plan and a CPU run of it on a tiny slice."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_run import write_blobs

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
    return write_blobs(tmp_path_factory.mktemp("data") / "blobs.npz", 120, 30, seed=1)


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


paper_gpu = load_script("paper_gpu")
plan_module = load_script("paper_gpu_plan")


def test_forward_macs_by_hand():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 32 * 32, 10))
    assert plan_module.forward_macs(model) == 32 * 32 * 4 * 3 * 3 * 3 + 4 * 32 * 32 * 10


def test_paper_gpu_plan_fills_the_budget_and_no_more():
    rates = plan_module.measured_rates()
    assert rates["sop"] == pytest.approx(7_200_000 / 225.63, rel=1e-3)
    for name, runs in (("paper", 1), ("fast", 2)):
        preset = plan_module.make_preset(name, "cuda", None, None)
        assert ("channels_last" in preset.params) == plan_module.channels_last_supported()
        assert preset.params["amp"] is True and len(preset.noise) == runs
        plan = plan_module.make_plan(preset, rates)
        usable = plan_module.BUDGET_S * (1 - plan_module.MARGIN)
        assert plan.total_s <= usable
        assert plan_module.make_plan(preset, rates, epochs=plan.epochs + 1,
                                     warmup_epochs=plan.warmup_epochs).total_s > usable
        if plan.warmup_epochs < plan_module.MAX_WARMUP_EPOCHS:
            assert plan_module.make_plan(preset, rates, epochs=plan.epochs,
                                         warmup_epochs=plan.warmup_epochs + 1).total_s > usable
        trained = sum(e for stage, e, _ in plan.stages if stage.startswith("train"))
        assert trained == runs * plan.epochs * 400_000
    paper = plan_module.make_plan(plan_module.make_preset("paper", "cuda", None, None), rates)
    assert paper.model == "preact_resnet18" and paper.macs == pytest.approx(0.555e9, rel=0.01)


@pytest.mark.realdata
@pytest.mark.parametrize("preset", ["paper", "fast"])
def test_paper_gpu_cpu_run_goes_through_every_stage_and_resumes(preset, shared_data, tmp_path, capsys):
    argv = ["--preset", preset, "--device", "cpu", "--data", str(shared_data), "--train-subset", "120",
            "--test-subset", "40", "--warmup-epochs", "1", "--epochs", "1", "--width", "8", "--threads", "1",
            "--out", str(tmp_path)]
    paper_gpu.main([*argv, "--budget-s", "1"])  # the deadline stops the warm-up after its epoch
    log = json.loads((tmp_path / "paper_gpu_log.json").read_text())
    assert log["stopped"] and not log["runs"]
    assert not list(tmp_path.glob("*/result_*.json"))
    paper_gpu.main(argv)
    log = json.loads((tmp_path / "paper_gpu_log.json").read_text())
    noise = ["worst"] if preset == "paper" else ["random1", "aggre"]
    assert log["stopped"] is None and [r["run_dir"] for r in log["runs"]] == [
        str(tmp_path / f"{n}_sopplus_seed0") for n in noise]
    for n in noise:
        run_dir = tmp_path / f"{n}_sopplus_seed0"
        results = sorted(run_dir.glob("result_*.json"))
        assert len(results) == 16
        for path in results:
            r = json.loads(path.read_text())
            assert r["epochs"] == 1 and r["warmup_epochs"] == 1 and r["n_train"] == 120
            assert r["learner_params"]["model"] == ("preact_resnet18" if preset == "paper" else "airbench")
            meta = json.loads((run_dir / f"subset_{r['method']}_{r['fraction']}.json").read_text())
            assert (run_dir / f"relabel_{meta['indices']}.npy").is_file()
    report = (tmp_path / "report.md").read_text()
    assert all(m in report for m in paper_gpu.METHODS)
    assert (tmp_path / "accuracy.png").stat().st_size > 0
    before = {p: p.stat().st_mtime_ns for p in tmp_path.glob("*/result_*.json")}
    capsys.readouterr()
    paper_gpu.main(argv)  # everything is done: nothing is trained again
    assert "  fit " not in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("*/result_*.json")} == before


def test_fast_gpu_defaults_give_ce_the_measured_fast_net_recipe():
    model, ce = grid.learner_params("fast", "ce", "cuda", None, None)
    assert model == "airbench" and {k: ce[k] for k in grid.FAST_CE_GPU} == grid.FAST_CE_GPU
    recipe = (ce["batch_size"], ce["lr"], ce["weight_decay"], ce["label_smoothing"])
    assert recipe == (1024, 6.4, 1.25e-4, 0.2)
    for learner in ("sop+", "dividemix"):  # the recipe was measured for CE only
        _, params = grid.learner_params("fast", learner, "cuda", None, None)
        assert (params["batch_size"], params["lr"]) == (512, 0.1) and "label_smoothing" not in params
    _, cpu = grid.learner_params("fast", "ce", "cpu", None, None)
    assert (cpu["batch_size"], cpu["lr"]) == (64, 0.1)
    _, override = grid.learner_params("fast", "ce", "cuda", None, None, batch_size=256, lr=1.0)
    assert (override["batch_size"], override["lr"]) == (256, 1.0)


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
