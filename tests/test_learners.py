"""Learners: training lowers the loss, ELR/SOP+ re-label a noisy problem, seeding, subsets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from prune4rel.data import NoisyDataset, from_arrays, symmetric_noise
from prune4rel.learners import CE, ELR, SOP, Callback, EpochRecorder, SOPPlus, get_learner

COMMON = {"model": "mlp", "lr": 0.05, "batch_size": 64, "num_threads": 1, "seed": 0}


def blobs(n: int = 480, c: int = 4, d: int = 8, noise: float = 0.4, seed: int = 0) -> NoisyDataset:
    """Gaussian blobs with symmetric label noise (well separated: the clean task is easy)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(c, d)) * 3
    y = rng.integers(0, c, n)
    yt = rng.integers(0, c, 200)
    x = (centers[y] + rng.normal(size=(n, d))).astype(np.float32)
    xt = (centers[yt] + rng.normal(size=(200, d))).astype(np.float32)
    noisy, _ = symmetric_noise(y, noise, c, seed=seed)
    return from_arrays(x, noisy, xt, yt, clean_labels=y, num_classes=c)


@pytest.fixture(scope="module")
def noisy_blobs() -> NoisyDataset:
    return blobs()


@pytest.mark.parametrize("name", ["ce", "elr", "sop", "sop+"])
def test_training_lowers_loss(name: str) -> None:
    ds = blobs(noise=0.0, n=256)
    learner = get_learner(name, **COMMON)
    logs = learner.fit(ds, epochs=8, progress=False)
    assert len(logs) == 8 and logs[-1]["loss"] < logs[0]["loss"]
    assert logs[-1]["train_acc_given"] > 0.9
    probs, emb = learner.predict(ds)
    assert probs.shape == (ds.n, 4) and emb.shape == (ds.n, 128)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)


@pytest.mark.parametrize("name", ["elr", "sop+"])
def test_relabeling_beats_given_labels(noisy_blobs: NoisyDataset, name: str) -> None:
    given_acc = 1.0 - noisy_blobs.noise_rate()  # 0.6
    learner = get_learner(name, **COMMON)
    learner.fit(noisy_blobs, epochs=30, progress=False)
    relabel = learner.relabel_accuracy()
    assert relabel > given_acc + 0.25, (relabel, given_acc)
    assert learner.evaluate(noisy_blobs) > 0.85


def test_ce_keeps_given_labels(noisy_blobs: NoisyDataset) -> None:
    learner = CE(**COMMON)
    learner.fit(noisy_blobs, epochs=1, progress=False)
    np.testing.assert_array_equal(learner.corrected_labels(), noisy_blobs.noisy_labels)
    assert learner.relabel_accuracy() == pytest.approx(1 - noisy_blobs.noise_rate())


@pytest.mark.parametrize("cls", [CE, ELR, SOPPlus])
def test_same_seed_same_result(noisy_blobs: NoisyDataset, cls: type) -> None:
    runs = []
    for _ in range(2):
        learner = cls(**COMMON)
        learner.fit(noisy_blobs, np.arange(0, 300), epochs=3, progress=False)
        runs.append((learner.predict(noisy_blobs)[0], learner.corrected_labels()))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    other = cls(**{**COMMON, "seed": 1})
    other.fit(noisy_blobs, np.arange(0, 300), epochs=3, progress=False)
    assert not np.array_equal(other.predict(noisy_blobs)[0], runs[0][0])


def test_state_is_indexed_by_dataset_index(noisy_blobs: NoisyDataset) -> None:
    subset = np.arange(100, 220)
    learner = ELR(**COMMON)
    learner.fit(noisy_blobs, subset, epochs=5, progress=False)
    corrected = learner.corrected_labels()
    assert corrected.shape == (noisy_blobs.n,)
    outside = np.setdiff1d(np.arange(noisy_blobs.n), subset)
    np.testing.assert_array_equal(corrected[outside], noisy_blobs.noisy_labels[outside])
    assert torch.all(learner.targets[torch.as_tensor(outside)].sum(1) == 0)
    assert torch.all(learner.targets[torch.as_tensor(subset)].sum(1) > 0)


def test_sop_noise_parameters_grow_on_noisy_examples(noisy_blobs: NoisyDataset) -> None:
    learner = SOP(**COMMON, relabel="noise")
    learner.fit(noisy_blobs, epochs=30, progress=False)
    s = learner.noise_estimate().abs().sum(1).detach().cpu().numpy()
    wrong = noisy_blobs.noisy_labels != noisy_blobs.clean_labels
    assert s[wrong].mean() > 3 * s[~wrong].mean()
    assert learner.relabel_accuracy() > 1 - noisy_blobs.noise_rate()


def test_callbacks_and_recorder(noisy_blobs: NoisyDataset) -> None:
    events: list[str] = []

    class Spy(Callback):
        def on_fit_start(self, learner, dataset, indices, epochs):  # type: ignore[no-untyped-def]
            events.append("start")

        def on_epoch_end(self, learner, epoch, logs):  # type: ignore[no-untyped-def]
            events.append(f"epoch{epoch}")

        def on_fit_end(self, learner, history):  # type: ignore[no-untyped-def]
            events.append("end")

    rec = EpochRecorder()
    learner = CE(**COMMON)
    subset = np.arange(50)
    learner.fit(noisy_blobs, subset, epochs=2, progress=False, callbacks=[Spy(), rec])
    assert events == ["start", "epoch0", "epoch1", "end"]
    assert rec.losses.shape == (2, noisy_blobs.n)
    assert np.isfinite(rec.losses[:, subset]).all() and np.isnan(rec.losses[:, 50:]).all()
    assert not rec.correct[:, 50:].any()
    # margin > 0 exactly when the given label is predicted
    np.testing.assert_array_equal(rec.margins[:, subset] > 0, rec.correct[:, subset])


def test_input_errors(noisy_blobs: NoisyDataset) -> None:
    learner = CE(**COMMON)
    with pytest.raises(ValueError, match="not fitted"):
        learner.predict(noisy_blobs)
    with pytest.raises(ValueError, match="indices"):
        learner.fit(noisy_blobs, [0, 0, 1], epochs=1, progress=False)
    with pytest.raises(ValueError, match="outside"):
        learner.fit(noisy_blobs, [noisy_blobs.n], epochs=1, progress=False)
    with pytest.raises(ValueError, match="epochs"):
        learner.fit(noisy_blobs, epochs=0, progress=False)
    learner.fit(noisy_blobs, [0, 1, 2], epochs=1, progress=False)
    with pytest.raises(ValueError, match="holds state"):
        learner.fit(blobs(n=100), epochs=1, progress=False)
    with pytest.raises(ValueError, match="unknown learner"):
        get_learner("mixup")
    with pytest.raises(ValueError, match="relabel"):
        SOPPlus(relabel="vote")


def test_image_learner_with_strong_view() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 8, 8, 1), dtype=np.uint8)
    y = rng.integers(0, 3, 40)
    ds = from_arrays(x, y, x[:10], y[:10], clean_labels=y, num_classes=3)
    learner = SOPPlus(lr=0.05, num_threads=1, seed=0, batch_size=16)  # auto -> small_cnn
    learner.fit(ds, epochs=2, progress=False)
    probs, emb = learner.predict(ds.x_test)
    assert probs.shape == (10, 3) and emb.shape[0] == 10
