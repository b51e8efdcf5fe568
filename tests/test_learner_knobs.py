"""The knobs every benchmark config sets, checked by what they do: the learning rate at each
step of the three schedules, test-time augmentation, bf16 autocast on CPU, label smoothing's
targets, and rebinding a learner to another dataset object."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from prune4rel.data import NoisyDataset, from_arrays
from prune4rel.learners import CE, ELR, Callback, Learner
from prune4rel.learners.losses import cross_entropy
from prune4rel.learners.optim import lr_factor

COMMON = {"model": "mlp", "num_threads": 1, "seed": 0}


def blobs(n: int = 40, c: int = 3, d: int = 6, seed: int = 0) -> NoisyDataset:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(c, d)) * 3
    y = np.arange(n) % c
    x = (centers[y] + rng.normal(size=(n, d))).astype(np.float32)
    return from_arrays(x, y, x[:10].copy(), y[:10], clean_labels=y, num_classes=c)


def images(n: int = 48, seed: int = 0) -> NoisyDataset:
    """Images whose class is the brightness of their left half: not mirror-symmetric."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
    y = (x[:, :, :4].mean(axis=(1, 2, 3)) > x[:, :, 4:].mean(axis=(1, 2, 3))).astype(np.int64)
    return from_arrays(x, y, x[:8].copy(), y[:8], clean_labels=y, num_classes=2)


# ---------------------------------------------------------------------- learning-rate schedules
class LrSpy(Callback):
    """The learning rate each optimisation step used (read after the step)."""

    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_batch_end(self, learner, epoch, indices, logits):  # type: ignore[no-untyped-def]
        self.lrs.append(learner.optimizers[0].param_groups[0]["lr"])


#: 40 examples in batches of 10 for 2 epochs: 8 steps; lr 0.1, warm-up 25 %, floor 10 %
SCHEDULE_KW = {"lr": 0.1, "batch_size": 10, "warmup_fraction": 0.25, "min_lr_ratio": 0.1}
EXPECTED_FACTORS = {
    # warm-up and floor do not apply
    "constant": [1.0] * 8,
    # 0.1 + 0.45 (1 + cos(pi s / 8)); no warm-up
    "cosine": [1.0, 0.96574578, 0.86819805, 0.72220754, 0.55, 0.37779246, 0.23180195, 0.13425422],
    # up over the first 2 steps (s / 2), then down from 1 at s = 2 to 0.1 at s = 8
    "triangle": [0.0, 0.5, 1.0, 0.85, 0.7, 0.55, 0.4, 0.25],
}


@pytest.mark.parametrize("schedule", list(EXPECTED_FACTORS))
def test_schedule_sets_the_lr_of_every_step(schedule: str) -> None:
    spy = LrSpy()
    learner = CE(**COMMON, schedule=schedule, **SCHEDULE_KW)
    logs = learner.fit(blobs(), epochs=2, progress=False, callbacks=[spy])
    np.testing.assert_allclose(spy.lrs, 0.1 * np.array(EXPECTED_FACTORS[schedule]), rtol=1e-7, atol=1e-12)
    # each log reports the lr of the step after its epoch: the end of the schedule after the last
    final = {"constant": 0.1, "cosine": 0.01, "triangle": 0.01}[schedule]
    assert logs[-1]["lr"] == pytest.approx(final)


def test_lr_factor_pure_values() -> None:
    assert lr_factor("triangle", 1, 10, 0.2, 0.0) == pytest.approx(0.5)
    assert lr_factor("triangle", 6, 10, 0.2, 0.0) == pytest.approx(0.5)  # (1 - 0.6) / 0.8
    assert lr_factor("triangle", 3, 10, 0.0, 0.2) == pytest.approx(0.76)  # no warm-up: 0.2 + 0.8 * 0.7
    assert lr_factor("cosine", 10, 10, 0.2, 0.3) == pytest.approx(0.3)
    assert lr_factor("cosine", 2.5, 10, 0.0, 0.0) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_factor("triangle", 12, 10, 0.2, 0.0) == 0.0  # past the end: no negative rate


# ---------------------------------------------------------------------- test-time augmentation
def test_tta_averages_the_logits_of_an_image_and_its_flip() -> None:
    ds = images()
    learner = CE(model="small_cnn", batch_size=16, num_threads=1, seed=0)
    learner.fit(ds, epochs=2, progress=False)
    p_x, emb = learner.predict(ds.x)
    p_flip, _ = learner.predict(ds.x[:, :, ::-1])  # horizontal flip of (N, H, W, C)
    learner.set_params(tta=True)
    p_tta, emb_tta = learner.predict(ds.x)
    # softmax is shift-invariant per row, so the mean of the log-probabilities gives the
    # softmax of the mean logits
    mean_log = 0.5 * (torch.log(torch.as_tensor(p_x)) + torch.log(torch.as_tensor(p_flip)))
    np.testing.assert_allclose(p_tta, torch.softmax(mean_log, 1).numpy(), atol=1e-5)
    assert np.abs(p_tta - p_x).max() > 1e-3  # the flip changes the prediction
    np.testing.assert_array_equal(emb_tta, emb)  # embeddings are of the image alone


def test_tta_leaves_feature_vectors_alone() -> None:
    ds = blobs()
    learner = CE(**COMMON)
    learner.fit(ds, epochs=1, progress=False)
    plain = learner.predict(ds)[0]
    np.testing.assert_array_equal(learner.set_params(tta=True).predict(ds)[0], plain)


# ---------------------------------------------------------------------- amp
class DtypeSpy(Callback):
    """Records the output dtypes of every Linear layer during training."""

    def __init__(self) -> None:
        self.dtypes: set[torch.dtype] = set()

    def on_fit_start(self, learner, dataset, indices, epochs):  # type: ignore[no-untyped-def]
        for module in learner.model.modules():
            if isinstance(module, nn.Linear):
                module.register_forward_hook(lambda m, args, out: self.dtypes.add(out.dtype))


@pytest.mark.parametrize("cls", [CE, ELR])
def test_amp_on_cpu_is_bf16_autocast_close_to_float32(cls: type[Learner]) -> None:
    ds = blobs(n=120)
    runs = {}
    for amp in (False, True):
        spy = DtypeSpy()
        learner = cls(**COMMON, amp=amp, batch_size=16, lr=0.05)
        logs = learner.fit(ds, epochs=4, progress=False, callbacks=[spy])
        runs[amp] = (np.array([log["loss"] for log in logs]), learner.predict(ds)[0], spy.dtypes)
    assert runs[False][2] == {torch.float32} and runs[True][2] == {torch.bfloat16}
    assert np.isfinite(runs[True][0]).all()
    np.testing.assert_allclose(runs[True][0], runs[False][0], rtol=2e-2, atol=1e-2)
    assert runs[True][1].dtype == np.float32
    np.testing.assert_allclose(runs[True][1], runs[False][1], atol=3e-2)


# ---------------------------------------------------------------------- label smoothing
def test_label_smoothing_targets() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    y = torch.tensor([0, 2])
    # smoothing 0.3 over 3 classes: 1 - 0.3 + 0.1 for the label, 0.1 elsewhere
    targets = torch.tensor([[0.8, 0.1, 0.1], [0.1, 0.1, 0.8]])
    expected = -(targets * torch.log_softmax(logits, 1)).sum(1).mean()
    assert float(cross_entropy(logits, y, 0.3)) == pytest.approx(float(expected), abs=1e-6)
    # by hand, with log(e^2 + 2) = 2.239545 and log(e + 2) = 1.551445:
    # 0.8 * 0.239545 + 0.2 * 2.239545 and 0.9 * 1.551445 + 0.1 * 0.551445
    assert float(cross_entropy(logits, y, 0.3)) == pytest.approx((0.639545 + 1.451445) / 2, abs=1e-5)
    assert float(cross_entropy(logits, y)) == pytest.approx((0.239545 + 1.551445) / 2, abs=1e-5)


class FixedLogits(nn.Module):
    """Logits (2, 0, 0) for every input (a bias the optimiser barely moves at lr 1e-9)."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.tensor([2.0, 0.0, 0.0]))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1] * 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(x.shape[0], 3)


@pytest.mark.parametrize(("smoothing", "loss_first", "loss_other"), [(0.0, 0.239545, 2.239545),
                                                                      (0.3, 0.639545, 2.039545)])
def test_ce_trains_on_the_smoothed_targets(smoothing: float, loss_first: float, loss_other: float) -> None:
    ds = blobs(n=30)  # labels 0, 1, 2 in turn
    learner = CE(FixedLogits(), lr=1e-9, batch_size=8, label_smoothing=smoothing, num_threads=1)
    log = learner.fit(ds, epochs=1, progress=False)[0]
    # a third of the examples have label 0 (target 0.8 / 0.1 / 0.1 under smoothing 0.3)
    assert log["loss"] == pytest.approx((loss_first + 2 * loss_other) / 3, abs=1e-5)


# ---------------------------------------------------------------------- rebinding
class InputSpy(Callback):
    """Each training step's dataset indices and the inputs the network saw."""

    def __init__(self) -> None:
        self.inputs: list[torch.Tensor] = []
        self.indices: list[torch.Tensor] = []

    def on_fit_start(self, learner, dataset, indices, epochs):  # type: ignore[no-untyped-def]
        learner.model.register_forward_pre_hook(lambda m, args: self.inputs.append(args[0].detach().clone()))

    def on_batch_end(self, learner, epoch, indices, logits):  # type: ignore[no-untyped-def]
        self.indices.append(indices.clone())


def test_a_new_dataset_object_replaces_inputs_and_labels() -> None:
    first = blobs()
    learner = CE(**COMMON, augment=None, batch_size=10)
    learner.fit(first, epochs=1, progress=False)
    shifted = first.x + 100.0
    labels = (first.noisy_labels + 1) % 3
    clean = first.noisy_labels.copy()
    clean[:4] = labels[:4]
    second = from_arrays(shifted, labels, first.x_test, first.y_test, clean_labels=clean, num_classes=3)
    spy = InputSpy()
    learner.fit(second, epochs=1, progress=False, callbacks=[spy])
    mean, std = first.normalization()  # the normalisation stays the first dataset's
    seen = torch.cat(spy.inputs).numpy()
    expected = (shifted[torch.cat(spy.indices).numpy()] - mean) / std
    np.testing.assert_allclose(seen, expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(learner.corrected_labels(), labels)
    assert learner.relabel_accuracy() == pytest.approx(4 / first.n)  # the second set's clean labels


@pytest.mark.parametrize("change", ["features", "classes", "examples"])
def test_a_dataset_of_another_shape_is_refused(change: str) -> None:
    ds = blobs()
    learner = CE(**COMMON)
    learner.fit(ds, epochs=1, progress=False)
    x, y = ds.x, ds.noisy_labels
    other = {
        "features": lambda: from_arrays(np.hstack([x, x[:, :1]]), y, np.hstack([ds.x_test, ds.x_test[:, :1]]),
                                        ds.y_test, num_classes=3),
        "classes": lambda: from_arrays(x, y, ds.x_test, ds.y_test, num_classes=4),
        "examples": lambda: from_arrays(x[:-1], y[:-1], ds.x_test, ds.y_test, num_classes=3),
    }[change]()
    with pytest.raises(ValueError, match="holds state for a dataset"):
        learner.fit(other, epochs=1, progress=False)


def test_channels_last_gives_the_same_numbers_in_nhwc_order():
    rng = np.random.default_rng(0)
    ds = from_arrays(
        rng.integers(0, 256, (120, 12, 12, 3), dtype=np.uint8), rng.integers(0, 3, 120),
        rng.integers(0, 256, (50, 12, 12, 3), dtype=np.uint8), rng.integers(0, 3, 50),
    )
    plain = CE("small_cnn", num_threads=1, seed=0, batch_size=32)
    nhwc = CE("small_cnn", num_threads=1, seed=0, batch_size=32, channels_last=True)
    for learner in (plain, nhwc):
        learner.fit(ds, epochs=2, progress=False)
    conv = next(m for m in nhwc.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert nhwc._inputs(torch.arange(4)).is_contiguous(memory_format=torch.channels_last)
    assert not plain._inputs(torch.arange(4)).is_contiguous(memory_format=torch.channels_last)
    p_plain, _ = plain.predict(ds.x_test[:50])
    p_nhwc, _ = nhwc.predict(ds.x_test[:50])
    np.testing.assert_allclose(p_nhwc, p_plain, rtol=1e-4, atol=1e-5)
