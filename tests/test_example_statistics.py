"""example_statistics: the one definition of loss, correctness and margin that EpochRecorder
and SignalRecorder share; EpochRecorder records bit for bit what it recorded before."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from prune4rel.data import load_digits_noisy
from prune4rel.learners import Callback, EpochRecorder, example_statistics, get_learner
from prune4rel.warmup import SignalRecorder


def _reference(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """EpochRecorder.on_batch_end's formulas as they stood before example_statistics."""
    loss = F.cross_entropy(logits, y, reduction="none")
    correct = logits.argmax(dim=1) == y
    given = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.scatter(1, y[:, None], float("-inf")).amax(dim=1)
    return loss, correct, given - others


class _Batches(Callback):
    """Keeps every batch's indices and logits of a fit."""

    def __init__(self) -> None:
        self.batches: list[tuple[torch.Tensor, torch.Tensor]] = []

    def on_batch_end(self, learner, epoch, indices, logits):
        self.batches.append((indices.clone(), logits.clone()))


def test_hand_computed_values_ties_and_one_class():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
    loss, correct, margin = example_statistics(logits, torch.tensor([0, 2, 1]))
    want = [np.log(1 + 2 * np.exp(-2)), np.log(2 + np.exp(-1)), np.log(2 + np.exp(-1))]
    np.testing.assert_allclose(loss, want, rtol=1e-6)
    assert correct.tolist() == [True, False, True]  # argmax takes the first maximum
    assert margin.tolist() == [2.0, 0.0, 0.0]
    loss, correct, margin = example_statistics(torch.tensor([[3.0]]), torch.tensor([0]))
    assert loss.item() == 0.0 and correct.item() and margin.item() == float("inf")


def test_equal_to_the_former_formulas_bit_for_bit():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(257, 7, generator=gen) * 5
    labels = torch.randint(0, 7, (257,), generator=gen)
    for got, want in zip(example_statistics(logits, labels), _reference(logits, labels)):
        assert torch.equal(got, want)


def test_epoch_recorder_records_what_the_former_hooks_did():
    ds = load_digits_noisy(0.4, seed=0)
    rec, seen = EpochRecorder(), _Batches()
    learner = get_learner("ce", model="mlp", seed=0, batch_size=64, num_threads=1)
    learner.fit(ds, epochs=2, progress=False, callbacks=[rec, seen])
    labels = learner.given_labels_tensor()
    per_epoch = len(seen.batches) // 2
    for epoch in range(2):
        loss = torch.full((ds.n,), float("nan"))
        correct = torch.zeros(ds.n, dtype=torch.bool)
        margin = loss.clone()
        for idx, z in seen.batches[epoch * per_epoch : (epoch + 1) * per_epoch]:
            loss[idx], correct[idx], margin[idx] = _reference(z, labels[idx])
        assert np.array_equal(rec.losses[epoch], loss.numpy(), equal_nan=True)
        assert np.array_equal(rec.correct[epoch], correct.numpy())
        assert np.array_equal(rec.margins[epoch], margin.numpy(), equal_nan=True)


def test_signal_recorder_and_epoch_recorder_agree_on_one_batch():
    gen = torch.Generator().manual_seed(1)
    logits, labels = torch.randn(40, 5, generator=gen), torch.randint(0, 5, (40,), generator=gen)
    rec = SignalRecorder(40)
    rec.record_batch(torch.arange(40), logits, labels)
    rec.end_epoch()
    loss, correct, margin = example_statistics(logits, labels)
    assert np.array_equal(rec.losses[0], loss.numpy())
    assert np.array_equal(rec.correct[0], correct.numpy())
    assert np.array_equal(rec.margins[0], margin.numpy())
