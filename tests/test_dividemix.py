"""DivideMix learner: training, co-divide quality, re-labeling, subsets, determinism, errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from prune4rel.data import NoisyDataset, from_arrays, load_digits_noisy, symmetric_noise
from prune4rel.learners import Callback, DivideMix, EpochRecorder, Learner, get_learner
from prune4rel.learners.losses import uniform_prior_penalty
from prune4rel.learners.mixmatch import classwise_clean_probability, gmm_clean_probability, sharpen
from prune4rel.models import build_model

MLP_KW = {"model_kwargs": {"hidden": (64,)}}


def blobs(n: int = 600, c: int = 4, d: int = 16, rate: float = 0.4, seed: int = 0) -> NoisyDataset:
    """Gaussian class blobs as feature vectors, with exactly ``rate`` symmetric noise."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(c, d)) * 0.8
    y = np.arange(n) % c
    x = (centers[y] + rng.normal(size=(n, d))).astype(np.float32)
    y_test = np.arange(200) % c
    x_test = (centers[y_test] + rng.normal(size=(200, d))).astype(np.float32)
    noisy, _ = symmetric_noise(y, rate, c, seed=seed)
    return from_arrays(x, noisy, x_test, y_test, clean_labels=y, num_classes=c)


def small(**kw: object) -> DivideMix:
    return DivideMix.for_small_data(**{**MLP_KW, "seed": 0, **kw})


@pytest.fixture(scope="module")
def fitted() -> tuple[DivideMix, NoisyDataset, list[dict]]:
    ds = blobs()
    dm = small()
    logs = dm.fit(ds, epochs=10, progress=False)
    return dm, ds, logs


def test_registered() -> None:
    assert isinstance(get_learner("dividemix", **MLP_KW), DivideMix)


def test_relabels_noisy_examples(fitted: tuple[DivideMix, NoisyDataset, list[dict]]) -> None:
    dm, ds, logs = fitted
    given = float(np.mean(ds.noisy_labels == ds.clean_labels))
    relabel = dm.relabel_accuracy()
    assert relabel >= given + 0.10, (given, relabel)
    assert logs[-1]["relabel_acc"] == pytest.approx(relabel)
    labels = dm.corrected_labels()
    assert labels.shape == (ds.n,) and labels.dtype == np.int64


def test_co_divide_separates_noisy_from_clean(fitted: tuple[DivideMix, NoisyDataset, list[dict]]) -> None:
    dm, ds, logs = fitted
    w = dm.clean_probability()
    assert w.shape == (ds.n,) and np.all((w >= 0) & (w <= 1))
    auroc = roc_auc_score(ds.noisy_labels == ds.clean_labels, w)
    assert auroc > 0.7, auroc
    # warm-up epochs have no division; MixMatch epochs log the labeled share
    assert "labeled_fraction" not in logs[dm.warmup_epochs - 1]
    assert 0.0 < logs[-1]["labeled_fraction"] < 1.0


def test_predict_averages_both_networks(fitted: tuple[DivideMix, NoisyDataset, list[dict]]) -> None:
    dm, ds, _ = fitted
    probs, emb = dm.predict(ds.x_test)
    assert probs.shape == (ds.n_test, ds.num_classes)
    assert emb.shape == (ds.n_test, 64)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    mean, std = ds.normalization()  # features are standardised per feature
    x = torch.as_tensor((ds.x_test - mean) / std, dtype=torch.float32)
    with torch.no_grad():
        mean = sum(torch.softmax(net(x), 1) for net in dm._nets()) / 2
    np.testing.assert_allclose(probs, mean.numpy(), atol=1e-5)
    assert dm.evaluate(ds) > 0.6


#: the fast protocol of benchmarks/cifar10n/grid.py, scaled down: triangle schedule, lr 0.1,
#: 12 epochs with DivideMix's CE warm-up of 12 // 5 and ramp-up of 12 // 4 epochs
FAST = {"model": "small_cnn", "model_kwargs": {"widths": (8, 16, 32)}, "batch_size": 64, "lr": 0.1,
        "schedule": "triangle", "num_threads": 1, "seed": 0}


@pytest.mark.parametrize("amp", [False, True])
def test_fast_schedule_beats_ce_under_class_dependent_noise(amp: bool) -> None:
    """Digits with 40% of each class's labels moved to the next class, in the fast protocol.

    Before the division became per class (and the epoch a fixed number of steps), the
    networks left a 2-epoch warm-up favouring a few classes, the division followed the
    classes and DivideMix collapsed: test accuracy 0.61 / 0.47 (amp off / on) against CE's
    0.67 / 0.64 on this seed, 0.28-0.76 on seeds 0-4, re-labeling down to 0.31.
    """
    ds = load_digits_noisy(0.4, seed=0, noise="asymmetric")
    given = float(np.mean(ds.noisy_labels == ds.clean_labels))
    ce = get_learner("ce", **FAST, amp=amp)
    ce.fit(ds, epochs=12, progress=False)
    dm = DivideMix(**FAST, amp=amp, warmup_epochs=2, rampup_epochs=3)
    logs = dm.fit(ds, epochs=12, progress=False)
    # seed 0: +0.14 / +0.22 over CE and +0.18 / +0.27 over the given labels; the margins
    # below held for seeds 0-9 with amp off and on (smallest: +0.02 and +0.035)
    acc, relabel = dm.evaluate(ds), dm.relabel_accuracy()
    assert acc >= ce.evaluate(ds) + 0.01, (acc, ce.evaluate(ds))
    assert relabel >= given + 0.03, (relabel, given)
    assert 0.3 < logs[-1]["labeled_fraction"] < 0.9


def test_classwise_division_ignores_class_bias() -> None:
    """Losses of a network that favours class 0: every class-0 loss is below every class-1
    loss, and within each class the noisy fifth has the larger losses."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 500)
    noisy = rng.random(1000) < 0.2
    losses = np.where(labels == 0, 0.2, 2.0) + np.where(noisy, 0.5, 0.0) + rng.normal(0, 0.05, 1000)
    pooled = gmm_clean_probability(losses, seed=0) > 0.5
    assert pooled[labels == 0].mean() > 0.95 and pooled[labels == 1].mean() < 0.05  # divides by class
    w = classwise_clean_probability(losses, labels, seed=0)
    assert roc_auc_score(~noisy, w) > 0.99
    for c in (0, 1):
        assert np.mean((w > 0.5)[labels == c] == ~noisy[labels == c]) > 0.95
    singles = classwise_clean_probability(np.array([0.1, 3.0, 0.2]), np.array([0, 1, 0]), seed=0)
    assert singles[1] == 1.0  # a class with one example is not divided
    with pytest.raises(ValueError, match="labels"):
        classwise_clean_probability(losses, labels[:10], seed=0)


@pytest.mark.parametrize("classwise", [True, False])
def test_epoch_steps_do_not_depend_on_the_division(classwise: bool) -> None:
    """A MixMatch epoch is ceil(m / batch_size) steps of each network, however few
    examples the division calls clean."""

    class Steps(Callback):
        def __init__(self) -> None:
            self.per_epoch: dict[int, int] = {}

        def on_batch_end(self, learner: Learner, epoch: int, indices: torch.Tensor, logits: torch.Tensor
                         ) -> None:
            self.per_epoch[epoch] = self.per_epoch.get(epoch, 0) + 1

    ds = blobs(n=200, seed=7)
    steps = Steps()
    dm = small(warmup_epochs=1, p_threshold=0.9, batch_size=32, classwise_divide=classwise)
    logs = dm.fit(ds, epochs=3, progress=False, callbacks=[steps])
    assert logs[-1]["labeled_fraction"] < 0.75  # a pass over the labeled set: at most 5 steps
    assert steps.per_epoch == {0: 7, 1: 7, 2: 7}
    assert [log["steps"] for log in logs] == [7, 7, 7]


def test_training_loss_decreases() -> None:
    ds = blobs(seed=1)
    warm = small(warmup_epochs=4).fit(ds, epochs=4, progress=False)
    assert warm[-1]["loss"] < warm[0]["loss"]
    # with lambda_u = 0 the MixMatch objective is fixed, so its loss must go down too
    mix = small(warmup_epochs=2, lambda_u=0.0).fit(ds, epochs=8, progress=False)[2:]
    assert mix[-1]["loss"] < mix[0]["loss"]


def test_subset_state_is_indexed_by_dataset_index() -> None:
    ds = blobs(n=800, seed=2)
    idx = np.random.default_rng(0).choice(ds.n, size=400, replace=False)
    dm = small()
    dm.fit(ds, idx, epochs=8, progress=False)
    out = np.setdiff1d(np.arange(ds.n), idx)
    w = dm.clean_probability()
    assert np.all(np.isfinite(w[idx])) and np.all(np.isnan(w[out]))
    labels = dm.corrected_labels()
    np.testing.assert_array_equal(labels[out], ds.noisy_labels[out])
    given = float(np.mean(ds.noisy_labels[idx] == ds.clean_labels[idx]))
    assert dm.relabel_accuracy(idx) >= given + 0.10


def test_same_seed_same_result() -> None:
    ds = blobs(n=300, seed=3)
    runs = []
    for seed in (5, 5, 6):
        dm = small(seed=seed, warmup_epochs=2)
        logs = dm.fit(ds, epochs=4, progress=False)
        runs.append((dm.corrected_labels(), dm.clean_probability(), dm.predict(ds)[0], logs[-1]["loss"]))
    a, b, c = runs
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2], b[2])
    assert a[3] == b[3]
    assert not np.array_equal(a[2], c[2])


def test_warmup_counts_across_fit_calls_and_callbacks() -> None:
    ds = blobs(n=300, seed=4)
    dm = small(warmup_epochs=3, warmup_penalty=True)
    rec = EpochRecorder()
    first = dm.fit(ds, epochs=2, progress=False, callbacks=[rec])
    second = dm.fit(ds, epochs=2, progress=False, callbacks=[rec])
    assert [log["epoch"] for log in first + second] == [0, 1, 2, 3]
    assert "labeled_fraction" not in second[0] and "labeled_fraction" in second[1]
    assert rec.losses.shape == (4, ds.n)
    # warm-up epochs record every example; MixMatch epochs the labeled ones
    assert np.all(np.isfinite(rec.losses[:3]))
    assert 0 < np.isfinite(rec.losses[3]).sum() < ds.n


def test_images_and_module_instance() -> None:
    rng = np.random.default_rng(0)
    y = np.arange(64) % 2
    x = rng.integers(0, 256, size=(64, 8, 8, 1), dtype=np.uint8)
    x[y == 1, :4] //= 4  # a learnable difference between the classes
    ds = from_arrays(x, y, x[:8], y[:8], clean_labels=y, num_classes=2)
    model = build_model("small_cnn", 2, 1, input_shape=(1, 8, 8), widths=(8, 8, 8))
    dm = DivideMix.for_small_data(model, warmup_epochs=1, batch_size=16, seed=0)
    dm.fit(ds, epochs=2, progress=False)
    assert dm.model is model and dm.model2 is not model
    assert not torch.equal(model.head.weight, dm.model2.head.weight)  # type: ignore[union-attr]
    probs, _ = dm.predict(ds)
    assert probs.shape == (64, 2)


def test_degenerate_divisions_still_train() -> None:
    ds = blobs(n=200, seed=5)
    for thr in (0.01, 0.99):  # (almost) everything labeled / (almost) nothing labeled
        dm = small(warmup_epochs=1, p_threshold=thr)
        logs = dm.fit(ds, epochs=2, progress=False)
        assert np.isfinite(logs[-1]["loss"])


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"warmup_epochs": -1}, "warmup_epochs"),
        ({"warmup_epochs": 1.5}, "warmup_epochs"),
        ({"lambda_u": -1.0}, "lambda_u"),
        ({"p_threshold": 1.0}, "p_threshold"),
        ({"p_threshold": 0.0}, "p_threshold"),
        ({"temperature": 0.0}, "temperature"),
        ({"alpha": -4.0}, "alpha"),
        ({"rampup_epochs": float("nan")}, "rampup_epochs"),
        ({"prior_weight": -0.1}, "prior_weight"),
        ({"warmup_penalty": "yes"}, "warmup_penalty"),
        ({"classwise_divide": "no"}, "classwise_divide"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_hyperparameters(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        DivideMix(**kwargs)


def test_helpers() -> None:
    p = torch.tensor([[0.6, 0.3, 0.1], [1 / 3, 1 / 3, 1 / 3]])
    q = sharpen(p, 0.5)
    torch.testing.assert_close(q.sum(1), torch.ones(2))
    assert q[0, 0] > p[0, 0] and torch.allclose(q[1], p[1])
    assert float(uniform_prior_penalty(torch.zeros(4, 3))) == pytest.approx(0.0, abs=1e-6)
    assert float(uniform_prior_penalty(torch.tensor([[5.0, 0.0, 0.0]] * 4))) > 0.5
    rng = np.random.default_rng(0)
    losses = np.concatenate([rng.normal(0.1, 0.05, 300), rng.normal(2.0, 0.3, 100)])
    w = gmm_clean_probability(losses, seed=0)
    assert w[:300].mean() > 0.9 and w[300:].mean() < 0.1
    np.testing.assert_array_equal(gmm_clean_probability(losses, seed=0), w)
    assert gmm_clean_probability(np.array([1.0]), seed=0).tolist() == [1.0]


def test_resume_from_state_dict_is_exact() -> None:
    ds = blobs(n=200, seed=6)

    class Snapshot(Callback):
        state: dict | None = None

        def on_epoch_end(self, learner: Learner, epoch: int, logs: dict) -> None:
            if epoch == 2:  # after the first MixMatch epoch
                self.state = copy.deepcopy(learner.state_dict())

    snap = Snapshot()
    full = small(warmup_epochs=2)
    full.fit(ds, epochs=4, progress=False, callbacks=[snap])
    assert snap.state is not None and set(snap.state["modules"]) == {"model", "model2"}
    resumed = small(warmup_epochs=2)
    resumed.load_state_dict(snap.state)
    logs = resumed.fit(ds, epochs=4, progress=False)
    assert [log["epoch"] for log in logs] == [3]
    np.testing.assert_array_equal(resumed.corrected_labels(), full.corrected_labels())
    np.testing.assert_array_equal(resumed.clean_probability(), full.clean_probability())
    np.testing.assert_array_equal(resumed.predict(ds)[0], full.predict(ds)[0])
