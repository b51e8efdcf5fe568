"""warmup() returns valid Signals with the right shapes, and resumes exactly."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from prune4rel import Signals
from prune4rel.data import from_arrays, load_digits_noisy
from prune4rel.learners import CE, Callback, EpochRecorder
from prune4rel.warmup import warmup


def test_warmup_signals_shapes_and_content(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ds = load_digits_noisy(0.4, seed=0)
    learner = CE("mlp", lr=0.05, num_threads=1, seed=0)
    sig = warmup(learner, ds, epochs=3, progress=False)
    assert isinstance(sig, Signals)
    assert sig.n == ds.n and sig.num_classes == 10
    assert sig.embeddings.shape == (ds.n, 128)
    for name in ("losses", "correct", "margins"):
        assert getattr(sig, name).shape == (3, ds.n)
    np.testing.assert_array_equal(sig.labels, ds.noisy_labels)
    np.testing.assert_array_equal(sig.clean_labels, ds.clean_labels)
    assert sig.noise_rate() == pytest.approx(ds.noise_rate())
    np.testing.assert_array_equal(sig.margins > 0, sig.correct)
    # the warmed-up model already agrees with the clean labels far more than the noisy ones
    assert np.mean(sig.probs.argmax(1) == ds.clean_labels) > 0.7
    assert sig.meta["epochs"] == 3
    loaded = Signals.load(sig.save(tmp_path / "s.npz"))
    np.testing.assert_array_equal(loaded.losses, sig.losses)


def test_warmup_without_recording() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 4)).astype(np.float32)
    y = rng.integers(0, 3, 30)
    ds = from_arrays(x, y, x[:5], y[:5])
    sig = warmup(CE("mlp", num_threads=1), ds, epochs=1, record=False, progress=False)
    assert not sig.has("losses") and sig.clean_labels is None and sig.n == 30


def test_warmup_rejects_non_learner() -> None:
    with pytest.raises(ValueError, match="Learner"):
        warmup(object(), load_digits_noisy(), 1, progress=False)  # type: ignore[arg-type]


def test_warmup_resumes_from_learner_and_recorder_state() -> None:
    ds = load_digits_noisy(0.4, seed=0)

    class Stop(Exception):
        pass

    class StopAfterFirst(Callback):
        """Keeps the learner and recorder states of epoch 0, then interrupts."""

        def __init__(self, recorder: EpochRecorder) -> None:
            self.recorder = recorder

        def on_epoch_end(self, learner, epoch, logs):  # type: ignore[no-untyped-def]
            buffer = io.BytesIO()
            torch.save({"learner": learner.state_dict(), "recorder": self.recorder.state_dict()}, buffer)
            self.saved = buffer.getvalue()
            raise Stop

    full = warmup(CE("mlp", lr=0.05, num_threads=1, seed=0), ds, epochs=3, progress=False)
    recorder = EpochRecorder()
    stop = StopAfterFirst(recorder)
    with pytest.raises(Stop):
        warmup(CE("mlp", lr=0.05, num_threads=1, seed=0), ds, 3, progress=False, callbacks=[stop],
               recorder=recorder)
    state = torch.load(io.BytesIO(stop.saved), weights_only=True)
    learner, recorder = CE("mlp", lr=0.05, num_threads=1, seed=0), EpochRecorder()
    learner.load_state_dict(state["learner"])
    recorder.load_state_dict(state["recorder"])
    assert recorder.epochs == 1
    resumed = warmup(learner, ds, epochs=3, progress=False, recorder=recorder)
    for name in ("probs", "embeddings", "losses", "correct", "margins"):
        assert np.array_equal(getattr(resumed, name), getattr(full, name)), name


def test_recorder_state_errors() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 4)).astype(np.float32)
    y = rng.integers(0, 3, 30)
    ds = from_arrays(x, y, x[:5], y[:5])
    with pytest.raises(ValueError, match="recorder"):
        warmup(CE("mlp", num_threads=1), ds, epochs=1, record=False, progress=False, recorder=EpochRecorder())
    good = {"losses": torch.zeros(2, 30), "correct": torch.zeros(2, 30, dtype=torch.bool),
            "margins": torch.zeros(2, 30)}
    wrong_dtype = {**good, "losses": torch.zeros(2, 30, dtype=torch.float64)}
    for bad in (wrong_dtype, {**good, "margins": torch.zeros(2, 29)}, {"losses": good["losses"]}):
        with pytest.raises(ValueError, match="state"):
            EpochRecorder().load_state_dict(bad)
    recorder = EpochRecorder()
    recorder.load_state_dict({k: v[:, :20] for k, v in good.items()})
    with pytest.raises(ValueError, match="20 examples"):
        warmup(CE("mlp", num_threads=1), ds, epochs=3, progress=False, recorder=recorder)
