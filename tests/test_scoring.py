"""warmup() returns valid Signals with the right shapes."""

from __future__ import annotations

import numpy as np
import pytest

from prune4rel import Signals
from prune4rel.data import from_arrays, load_digits_noisy
from prune4rel.learners import CE
from prune4rel.scoring import warmup


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
