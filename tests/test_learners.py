"""Learners: training lowers the loss, ELR/SOP+ re-label a noisy problem, seeding, subsets,
storage dtype and device of the per-example state."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch

from prune4rel.data import NoisyDataset, from_arrays, symmetric_noise
from prune4rel.learners import (
    CE,
    ELR,
    SOP,
    Callback,
    DivideMix,
    EpochRecorder,
    Learner,
    LearnerStateError,
    SOPPlus,
    get_learner,
)

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


# ---------------------------------------------------------------------- per-example state storage
#: learner -> (constructor arguments, names of its floating per-example tensors)
STATEFUL = {
    "elr": ({}, ("targets",)),
    "sop+": ({"relabel": "noise"}, ("u", "v")),
    "dividemix": ({**DivideMix.SMALL_DATA, "warmup_epochs": 1}, ("_clean_prob", "_targets")),
}


def _fit(name: str, ds: NoisyDataset, epochs: int = 3, **kw: object) -> Learner:
    learner = get_learner(name, **{**COMMON, **STATEFUL[name][0], **kw})
    learner.fit(ds, np.arange(0, 300), epochs=epochs, progress=False)
    return learner


def _state_tensors(learner: Learner) -> dict[str, torch.Tensor]:
    """Every tensor the learner holds as an attribute (the bound data lives elsewhere)."""
    return {k: v for k, v in vars(learner).items() if isinstance(v, torch.Tensor)}


@pytest.mark.parametrize("name", list(STATEFUL))
def test_default_state_is_float32_on_the_training_device(noisy_blobs: NoisyDataset, name: str) -> None:
    default = _fit(name, noisy_blobs)
    explicit = _fit(name, noisy_blobs, state_dtype="float32", state_device="auto")
    np.testing.assert_array_equal(default.predict(noisy_blobs)[0], explicit.predict(noisy_blobs)[0])
    np.testing.assert_array_equal(default.corrected_labels(), explicit.corrected_labels())
    tensors = _state_tensors(default)
    assert tensors.keys() == _state_tensors(explicit).keys()
    for key, value in tensors.items():
        assert value.device == default.device
        np.testing.assert_array_equal(value.cpu().numpy(), _state_tensors(explicit)[key].cpu().numpy(), key)
    for key in STATEFUL[name][1]:
        assert tensors[key].dtype == torch.float32


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", list(STATEFUL))
def test_low_precision_state_is_stored_in_its_dtype(noisy_blobs: NoisyDataset, name: str, dtype: str) -> None:
    learner = _fit(name, noisy_blobs, epochs=2, state_dtype=dtype, state_device="cpu")
    tensors = _state_tensors(learner)
    for key in STATEFUL[name][1]:
        assert tensors[key].dtype == getattr(torch, dtype) and tensors[key].device.type == "cpu", key
    floating = {k for k, v in tensors.items() if v.is_floating_point()}
    assert floating == set(STATEFUL[name][1])  # no per-example float tensor escapes the option
    assert learner.corrected_labels().shape == (noisy_blobs.n,)
    assert learner.predict(noisy_blobs)[0].dtype == np.float32


@pytest.mark.gpu
@pytest.mark.parametrize("name", list(STATEFUL))
def test_state_on_cpu_while_training_on_gpu(noisy_blobs: NoisyDataset, name: str) -> None:
    learner = _fit(name, noisy_blobs, epochs=2, device="cuda", state_device="cpu", state_dtype="float16")
    for key in STATEFUL[name][1]:
        assert getattr(learner, key).device.type == "cpu"
    assert next(learner.model.parameters()).device == learner.device == torch.device("cuda", 0)
    assert learner.relabel_accuracy() > 0


@pytest.mark.parametrize(("name", "dtype"), [("elr", "float16"), ("sop+", "float16"), ("sop+", "bfloat16")])
def test_relabeling_with_low_precision_state(noisy_blobs: NoisyDataset, name: str, dtype: str) -> None:
    given_acc = 1.0 - noisy_blobs.noise_rate()  # 0.6
    learner = get_learner(name, **COMMON, state_dtype=dtype)
    learner.fit(noisy_blobs, epochs=30, progress=False)
    relabel = learner.relabel_accuracy()
    assert relabel > given_acc + 0.25, (relabel, given_acc)


def test_sop_noise_parameters_learn_in_float16(noisy_blobs: NoisyDataset) -> None:
    # the N(0, 1e-8^2) start is below float16's smallest subnormal: stored unscaled, u and v
    # would stay 0 and SOP would never re-label through its noise estimate
    learner = SOP(**COMMON, relabel="noise", state_dtype="float16")
    learner.fit(noisy_blobs, epochs=30, progress=False)
    assert learner.u.dtype == learner.v.dtype == torch.float16
    assert torch.isfinite(learner.u).all() and torch.isfinite(learner.v).all()
    s = learner.noise_estimate().abs().sum(1).cpu().numpy()
    wrong = noisy_blobs.noisy_labels != noisy_blobs.clean_labels
    assert s[wrong].mean() > 3 * s[~wrong].mean()
    assert learner.relabel_accuracy() > 1 - noisy_blobs.noise_rate() + 0.1


def test_state_dict_round_trip_keeps_state_dtype(noisy_blobs: NoisyDataset) -> None:
    class Snapshot(Callback):
        saved = b""

        def on_epoch_end(self, learner, epoch, logs):  # type: ignore[no-untyped-def]
            if epoch == 0:
                buffer = io.BytesIO()
                torch.save(copy.deepcopy(learner.state_dict()), buffer)
                self.saved = buffer.getvalue()

    kw = {**COMMON, "relabel": "noise", "state_dtype": "float16"}
    snap = Snapshot()
    full = SOPPlus(**kw)
    full.fit(noisy_blobs, epochs=3, progress=False, callbacks=[snap])
    state = torch.load(io.BytesIO(snap.saved), weights_only=True)
    assert state["tensors"]["u"].dtype == state["tensors"]["v"].dtype == torch.float16
    resumed = SOPPlus(**kw)
    resumed.load_state_dict(state)
    assert [log["epoch"] for log in resumed.fit(noisy_blobs, epochs=3, progress=False)] == [1, 2]
    assert resumed.u.dtype == resumed.v.dtype == torch.float16
    assert torch.equal(resumed.u, full.u) and torch.equal(resumed.v, full.v)
    np.testing.assert_array_equal(resumed.corrected_labels(), full.corrected_labels())
    np.testing.assert_array_equal(resumed.predict(noisy_blobs)[0], full.predict(noisy_blobs)[0])
    other = SOPPlus(**{**kw, "state_dtype": "float32"})
    other.load_state_dict(state)
    with pytest.raises(LearnerStateError, match="float16"):
        other.fit(noisy_blobs, epochs=3, progress=False)


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"state_dtype": "float64"}, "state_dtype"),
        ({"state_dtype": "half"}, "state_dtype"),
        ({"state_dtype": torch.float16}, "state_dtype"),
        ({"state_device": "cuda"}, "state_device"),
        ({"state_device": 0}, "state_device"),
    ],
)
def test_state_option_errors(kw: dict, name: str) -> None:
    for cls in (CE, ELR, SOPPlus, DivideMix):
        with pytest.raises(ValueError, match=f"`{name}`"):
            cls(**kw)


@pytest.mark.gpu
@pytest.mark.parametrize("state_dtype", ["float32", "float16"])
@pytest.mark.parametrize("name", ["ce", "elr", "sop", "sop+", "dividemix"])
def test_learners_train_on_gpu_with_state_there(
    noisy_blobs: NoisyDataset, name: str, state_dtype: str
) -> None:
    extra = {**DivideMix.SMALL_DATA, "warmup_epochs": 1} if name == "dividemix" else {}
    learner = get_learner(name, **{**COMMON, **extra}, device="cuda", amp=True, state_dtype=state_dtype)
    learner.fit(noisy_blobs, epochs=2, progress=False)
    assert {t.device for t in learner.per_example_tensors().values()} <= {learner.device}
    probs, _ = learner.predict(noisy_blobs)
    assert np.isfinite(probs).all() and learner.corrected_labels().shape == (noisy_blobs.n,)
