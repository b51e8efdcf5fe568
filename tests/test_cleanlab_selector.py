"""The cleanlab selector: cleanlab's label issues dropped, the rest by self-confidence, class-balanced;
out-of-sample probabilities of a cross-validated probe; the grid, the CLI and a pipeline run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import softmax

from prune4rel import Signals, get_selector
from prune4rel.cli import main
from prune4rel.pipeline import RunConfig, run_experiment
from prune4rel.selection import CleanlabSelector, class_budgets
from prune4rel.selection.cleanlab_selector import cross_val_probs
from prune4rel.validation import ParameterError

cleanlab_filter = pytest.importorskip("cleanlab.filter", reason="needs the [cleanlab] extra")


def noisy_signals(n: int = 300, classes: int = 3, flip: float = 0.2, seed: int = 0) -> Signals:
    """Separable clusters; the given label of a ``flip`` share is wrong, and the probabilities
    follow the clusters (they contradict every wrong label)."""
    rng = np.random.default_rng(seed)
    clean = rng.integers(0, classes, n)
    centers = rng.normal(size=(classes, 8)) * 4
    emb = centers[clean] + rng.normal(size=(n, 8))
    labels = clean.copy()
    wrong = rng.random(n) < flip
    labels[wrong] = (clean[wrong] + rng.integers(1, classes, wrong.sum())) % classes
    logits = 3.0 * np.eye(classes)[clean] + rng.normal(scale=0.5, size=(n, classes))
    return Signals(labels=labels, probs=softmax(logits), embeddings=emb, clean_labels=clean)


def test_drops_the_issues_cleanlab_flags_and_ranks_the_rest_by_self_confidence():
    sig = noisy_signals()
    sel = CleanlabSelector(pred_probs="given", balance=False).select(sig, 0.5)
    flagged = cleanlab_filter.find_label_issues(sig.labels, sig.probs.astype(np.float64), n_jobs=1)
    np.testing.assert_array_equal(sel.extras["label_issue"], flagged)
    assert sel.extras["issues"] == flagged.sum() > 0 and str(sel.extras["pred_probs"]) == "given"
    self_conf = sig.probs[np.arange(sig.n), sig.labels]
    kept = np.flatnonzero(~flagged)
    want = kept[np.lexsort((kept, -self_conf[kept]))][: len(sel)]
    np.testing.assert_array_equal(sel.indices, want)
    np.testing.assert_allclose(sel.gains, self_conf[want])
    assert sig.noise_rate() > 0.15
    assert np.mean(sig.labels[sel.indices] != sig.clean_labels[sel.indices]) == 0.0


def test_a_budget_beyond_the_unflagged_takes_the_least_doubtful_issues():
    sig = noisy_signals()
    sel = CleanlabSelector(pred_probs="given", balance=False).select(sig, sig.n - 5)
    flagged = sel.extras["label_issue"]
    unflagged = int((~flagged).sum())
    assert not flagged[sel.indices[:unflagged]].any() and flagged[sel.indices[unflagged:]].all()
    score = sel.extras["score"]
    issue_scores = score[sel.indices[unflagged:]]
    assert np.all(np.diff(issue_scores) <= 0)
    left = np.setdiff1d(np.flatnonzero(flagged), sel.indices)
    assert score[left].max() <= issue_scores.min()


def test_balance_gives_each_class_its_proportional_budget():
    sig = noisy_signals(n=301, seed=1)
    sel = CleanlabSelector(pred_probs="given").select(sig, 0.4)
    got = np.bincount(sig.labels[sel.indices], minlength=3)
    want = class_budgets(sig.labels, len(sel))
    assert got.tolist() == [want[c] for c in range(3)]
    assert len(np.unique(sel.indices)) == len(sel)


def test_cross_validated_probabilities_are_out_of_sample():
    # random labels on 200-d noise: a probe fitted on all rows recalls their labels, held-out
    # predictions cannot (chance is 1/3)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(90, 200)), np.repeat(np.arange(3), 30)
    probs = cross_val_probs(x, y, 3, folds=3, seed=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert np.mean(probs.argmax(axis=1) == y) < 0.6
    from sklearn.linear_model import LogisticRegression

    assert LogisticRegression(max_iter=100).fit(x, y).score(x, y) == 1.0
    np.testing.assert_array_equal(probs, cross_val_probs(x, y, 3, folds=3, seed=0))


def test_cross_val_probs_leave_classes_without_examples_at_zero():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), np.repeat([0, 2], 20)
    probs = cross_val_probs(x, y, 4, folds=2)
    assert probs.shape == (40, 4) and not probs[:, [1, 3]].any()
    with pytest.raises(ValueError, match="exceeds the n = 40"):
        cross_val_probs(x, y, 4, folds=41)
    with pytest.raises(ValueError, match="single class"):
        cross_val_probs(x, np.r_[np.zeros(39, int), 1], 2, folds=2)


def test_cross_val_is_the_default_and_recovers_the_wrong_labels():
    sig = noisy_signals(n=400, seed=2)
    sel = get_selector("cleanlab").select(sig, 0.5)
    assert str(sel.extras["pred_probs"]) == "cross_val"
    wrong = sig.labels != sig.clean_labels
    flagged = sel.extras["label_issue"]
    assert flagged[wrong].mean() > 0.8 and flagged[~wrong].mean() < 0.1
    assert np.mean(wrong[sel.indices]) < 0.02


@pytest.mark.parametrize(
    ("param", "bad"),
    [("pred_probs", "oof"), ("folds", 1), ("max_iter", 0), ("filter_by", "prune"), ("balance", "yes"),
     ("seed", -1), ("progress", None)],
)
def test_parameters_are_checked(param, bad):
    with pytest.raises(ParameterError, match=f"`{param}`"):
        get_selector("cleanlab", **{param: bad})


def test_without_cleanlab_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cleanlab.filter", None)
    with pytest.raises(ImportError, match=r"pip install 'prune4rel\[cleanlab\]'"):
        CleanlabSelector(pred_probs="given").select(noisy_signals(n=30), 0.5)
    assert CleanlabSelector().get_params()["filter_by"] == "prune_by_noise_rate"  # builds without it


def test_cli_select_and_methods(tmp_path):
    noisy_signals().save(tmp_path / "s.npz")
    args = ["select", str(tmp_path / "s.npz"), "--fraction", "0.3", "--method", "cleanlab",
            "--param", "pred_probs=given", "--out", str(tmp_path / "sub.npy")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert '"method": "cleanlab"' in res.output and '"subset_noise_rate": 0.0' in res.output
    listed = CliRunner().invoke(main, ["methods", "cleanlab"])
    assert "pred_probs  'cross_val'" in listed.output


def test_the_grid_and_the_pipeline_take_it(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "grid_for_cleanlab", Path(__file__).resolve().parents[1] / "benchmarks" / "cifar10n" / "grid.py"
    )
    grid = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grid)
    args = grid.main.__globals__["argparse"].Namespace(
        protocol="fast", device="cpu", threads=1, widths=None, warmup_epochs=None, epochs=None,
        methods=["cleanlab", "prune4rel_agree"], tau=None, fractions=[0.2], data=str(tmp_path),
        test_set="exact1k", train_subset=1000, target_degree=None,
    )
    assert grid.run_config(args, "worst", "sop+", 0).selection.methods == ("cleanlab", "prune4rel_agree")
    config = RunConfig.from_dict({
        "data": {"dataset": "digits", "train_subset": 300, "test_subset": 100},
        "warmup": {"epochs": 1, "model": "mlp", "params": {"num_threads": 1}},
        "selection": {"methods": ["cleanlab"], "fractions": [0.3], "params": {"cleanlab": {"folds": 3}}},
        "train": {"learner": "ce", "epochs": 1, "model": "mlp", "params": {"num_threads": 1}},
    })
    summary = run_experiment(config, tmp_path / "run", progress=False)
    (result,) = summary["results"]
    assert result["method"] == "cleanlab" and result["subset_size"] == 90
