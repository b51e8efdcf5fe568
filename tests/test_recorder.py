"""SignalRecorder: per-epoch histories from a user's own loop, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from prune4rel.warmup import Outputs, SignalRecorder

# three examples, three classes; example i's logits and given label
LOGITS = torch.tensor([[2.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
LABELS = torch.tensor([0, 1, 2])
# cross-entropy: -log softmax(z)[y]
LOSS = [math.log(1 + 2 * math.exp(-2)), math.log(math.exp(2) + 2), math.log(2 + math.exp(-1))]
CORRECT = [True, False, False]  # argmax of [0, 1, 1] is 1 (first maximum), not 2
MARGIN = [2.0, -2.0, 0.0]  # given logit minus the largest other one


def one_epoch(rec, order=(2, 0, 1), batch=2, **kwargs):
    order = list(order)
    for lo in range(0, len(order), batch):
        idx = torch.tensor(order[lo : lo + batch])
        rec.record_batch(idx, LOGITS[idx], LABELS[idx], **kwargs)
    rec.end_epoch()


def test_histories_match_hand_computed_values_in_any_batch_order():
    rec = SignalRecorder(3)
    one_epoch(rec, order=(2, 0, 1))
    one_epoch(rec, order=(1, 2, 0), batch=1)
    assert rec.epochs == 2
    for epoch in range(2):
        np.testing.assert_allclose(rec.losses[epoch], LOSS, rtol=1e-6)
        np.testing.assert_array_equal(rec.correct[epoch], CORRECT)
        np.testing.assert_allclose(rec.margins[epoch], MARGIN, atol=1e-7)
    assert rec.losses.dtype == np.float32 and rec.correct.dtype == bool


def test_signals_from_kept_outputs_are_the_last_batch_of_each_example():
    rec = SignalRecorder(3)
    feats = torch.arange(6.0).reshape(3, 2)
    for idx in ([2, 0], [1]):  # features of the wrong rows ...
        rec.record_batch(idx, LOGITS[idx], LABELS[idx], features=-feats[: len(idx)])
    rec.end_epoch()
    with pytest.raises(ValueError, match="in every batch or in none"):
        rec.record_batch([0], LOGITS[:1], LABELS[:1])
    with pytest.raises(ValueError, match=r"`features` must have shape \(B=1, ...\), got \(2, 2\)"):
        rec.record_batch([0], LOGITS[:1], LABELS[:1], features=feats[:2])
    for idx in ([2, 0], [1]):  # ... overwritten by a second epoch with the right ones
        rec.record_batch(idx, LOGITS[idx], LABELS[idx], features=feats[idx])
    rec.end_epoch()
    sig = rec.to_signals(clean_labels=[0, 0, 2], meta={"run": "a"})
    z = LOGITS.numpy().astype(np.float64)
    expected = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(sig.probs, expected, rtol=1e-6)
    np.testing.assert_array_equal(sig.embeddings, feats.numpy())
    np.testing.assert_array_equal(sig.labels, [0, 1, 2])
    assert sig.losses.shape == (2, 3) and sig.has("margins") and sig.noise_rate() == pytest.approx(1 / 3)
    assert sig.meta == {
        "producer": "prune4rel.warmup.recorder",
        "epochs": 2,
        "outputs": "training-mode, last epoch",
        "run": "a",
    }


def test_labels_from_the_constructor_and_checked_against_batches():
    rec = SignalRecorder(3, labels=[0, 1, 2], keep_outputs=False)
    rec.record_batch([0, 1], LOGITS[:2])  # no labels: the constructor's
    with pytest.raises(ValueError, match=r"differ from those recorded before for examples \[2\]"):
        rec.record_batch([2], LOGITS[2:], labels=[1])
    rec.record_batch(np.array([2]), LOGITS[2:].numpy(), labels=[2])  # numpy inputs work too
    rec.end_epoch()
    np.testing.assert_allclose(rec.losses[0], LOSS, rtol=1e-6)
    unknown = SignalRecorder(3)
    with pytest.raises(ValueError, match=r"labels of examples \[1\] are unknown"):
        unknown.record_batch([1], LOGITS[1:2])


def test_an_example_twice_in_one_epoch_is_refused():
    rec = SignalRecorder(3)
    rec.record_batch([0, 1], LOGITS[:2], LABELS[:2])
    with pytest.raises(ValueError, match=r"examples \[1\] were already recorded in this epoch"):
        rec.record_batch([1, 2], LOGITS[1:], LABELS[1:])
    rec.record_batch([2], LOGITS[2:], LABELS[2:])
    rec.end_epoch()
    np.testing.assert_allclose(rec.losses[0], LOSS, rtol=1e-6)


def test_an_epoch_missing_an_example_is_refused_and_discarded():
    rec = SignalRecorder(3)
    rec.record_batch([0, 2], LOGITS[[0, 2]], LABELS[[0, 2]])
    match = r"1 of 3 examples got no batch in epoch 0 \(first: \[1\]\).*drop_last"
    with pytest.raises(ValueError, match=match):
        rec.end_epoch()
    assert rec.epochs == 0
    with pytest.raises(ValueError, match="no batch recorded"):
        rec.end_epoch()
    one_epoch(rec)
    assert rec.epochs == 1 and not np.isnan(rec.losses).any()


@pytest.mark.parametrize(
    ("indices", "logits", "labels", "match"),
    [
        ([0, 3], LOGITS[:2], LABELS[:2], r"`indices` must lie in \[0, n=3\)"),
        ([1, 1], LOGITS[:2], LABELS[:2], "`indices` repeat within the batch"),
        ([[0, 1]], LOGITS[:2], LABELS[:2], "`indices` must be a 1-D integer array"),
        ([0.0, 1.0], LOGITS[:2], LABELS[:2], "`indices` must be a 1-D integer array"),
        ([0, 1], LOGITS[:1], LABELS[:2], r"`logits` must be a float \(B=2, C\)"),
        ([0, 1], LOGITS[:2], [0], "`labels` must be 2 integer class ids"),
        ([0, 1], LOGITS[:2], [0, 3], "class id 3 but `logits` has 3 columns"),
        ([0, 1], LOGITS[:2], [0, -1], "negative class id"),
    ],
)
def test_bad_batches_are_refused_naming_the_argument(indices, logits, labels, match):
    with pytest.raises(ValueError, match=match):
        SignalRecorder(3).record_batch(indices, logits, labels)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, "`n` must be a positive int"),
        ({"n": True}, "`n` must be a positive int"),
        ({"n": 3, "dtype": "float64"}, "`dtype` must be one of"),
        ({"n": 3, "labels": [0, 1]}, "`labels` must be 3 integer class ids"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SignalRecorder(**kwargs)


def test_a_refused_batch_changes_nothing():
    rec = SignalRecorder(3)
    with pytest.raises(ValueError, match="class id 5"):
        rec.record_batch([0, 1, 2], LOGITS, [0, 1, 5], features=torch.ones(3, 2))
    with pytest.raises(ValueError, match=r"\(B=3, ...\)"):
        rec.record_batch([0, 1, 2], LOGITS, [0, 1, 2], features=torch.ones(2, 2))
    with pytest.raises(ValueError, match="no batch recorded"):
        rec.end_epoch()
    with pytest.raises(ValueError, match=r"labels of examples \[0, 1, 2\] are unknown"):
        rec.record_batch([0, 1, 2], LOGITS)
    rec.record_batch([0, 1, 2], LOGITS[:, :2], [0, 1, 1])  # the class count was not fixed to 3 either
    rec.end_epoch()


def test_class_count_and_feature_width_stay_fixed():
    rec = SignalRecorder(3)
    rec.record_batch([0], LOGITS[:1], [0], features=[[1.0, 2.0]])
    with pytest.raises(ValueError, match="has 2 columns, earlier batches had 3"):
        rec.record_batch([1], LOGITS[1:2, :2], [1], features=[[1.0, 2.0]])
    with pytest.raises(ValueError, match="3 values per row, earlier batches had 2"):
        rec.record_batch([1], LOGITS[1:2], [1], features=[[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match="keep_outputs=False"):
        SignalRecorder(3, keep_outputs=False).record_batch([0], LOGITS[:1], [0], features=[[1.0]])


def test_to_signals_needs_finished_epochs_and_outputs():
    rec = SignalRecorder(3, keep_outputs=False)
    with pytest.raises(ValueError, match="no epoch recorded"):
        rec.to_signals()
    one_epoch(rec)
    rec.record_batch([0], LOGITS[:1], [0])
    with pytest.raises(ValueError, match="an epoch is in progress"):
        rec.to_signals()
    one_epoch(rec, order=(1, 2))  # finishes the epoch begun above
    with pytest.raises(ValueError, match="no outputs kept"):
        rec.to_signals()
    probs = np.full((3, 3), 1 / 3, np.float32)
    sig = rec.to_signals(Outputs(probs, np.eye(3), np.array([0, 1, 2])))
    assert sig.meta["outputs"] == "given" and sig.losses.shape == (2, 3)
    with pytest.raises(ValueError, match=r"differ from the recorded ones at 1 examples \(first: \[2\]\)"):
        rec.to_signals(Outputs(probs, np.eye(3), np.array([0, 1, 0])))
    with pytest.raises(ValueError, match="`outputs` has 2 rows"):
        rec.to_signals(Outputs(probs[:2], np.eye(2), None))


def test_float16_histories_round_and_clip():
    rec = SignalRecorder(2, dtype="float16", keep_outputs=False)
    rec.record_batch([0, 1], [[0.0, 1e5], [0.1, 0.0]], [0, 0])
    rec.end_epoch()
    big = float(np.finfo(np.float16).max)  # a loss of 1e5 would overflow to inf: clipped
    assert rec.losses.dtype == np.float16 and rec.margins.dtype == np.float16
    assert rec.losses[0, 0] == big and rec.margins[0, 0] == -big
    assert rec.margins[0, 1] == np.float16(0.1)
    assert rec.losses[0, 1] == np.float16(math.log(1 + math.exp(-0.1)))


def test_memmap_dir_holds_the_histories_on_disk(tmp_path):
    rec = SignalRecorder(3, dtype="float16", memmap_dir=tmp_path / "hist")
    for _ in range(2):
        one_epoch(rec, features=None)
    sizes = {p.name: p.stat().st_size for p in (tmp_path / "hist").iterdir()}
    # (E, n) float16 losses and margins, (E, n) bool, (n, C) float32 probabilities
    assert sizes == {"losses.bin": 12, "margins.bin": 12, "correct.bin": 6, "probs.bin": 36}
    assert isinstance(rec.losses, np.memmap)
    raw = np.fromfile(tmp_path / "hist" / "losses.bin", np.float16).reshape(2, 3)
    np.testing.assert_array_equal(raw, np.float16([LOSS, LOSS]))
    sig = rec.to_signals(Outputs(np.full((3, 3), 1 / 3), np.eye(3), None))
    for name in ("losses", "correct", "margins"):  # views of the files, not copies in memory
        base = getattr(sig, name)
        while isinstance(base.base, np.ndarray):
            base = base.base
        assert isinstance(base, np.memmap), name
    np.testing.assert_array_equal(sig.correct, [CORRECT, CORRECT])
    match = r"already holds \['losses.bin', 'correct.bin', 'margins.bin', 'probs.bin'\]"
    with pytest.raises(ValueError, match=match):
        SignalRecorder(3, memmap_dir=tmp_path / "hist")


def test_memmap_dir_keeps_outputs_on_disk(tmp_path):
    rec = SignalRecorder(3, memmap_dir=tmp_path)
    one_epoch(rec, order=(0, 1, 2), batch=3, features=torch.ones(3, 4))
    sig = rec.to_signals()
    assert (tmp_path / "embeddings.bin").stat().st_size == 3 * 4 * 4
    np.testing.assert_array_equal(sig.embeddings, np.ones((3, 4)))
