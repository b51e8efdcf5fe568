"""extract_outputs / extract_signals: one eval-mode pass of a user's model over a loader."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from prune4rel.warmup import extract_outputs, extract_signals
from prune4rel.warmup.batches import unpack_batch


def identity_net(dropout: float = 0.0) -> nn.Sequential:
    """x -> Linear(I) -> ReLU -> Dropout -> Linear(I): features relu(x), logits relu(x)."""
    first, last = nn.Linear(2, 2), nn.Linear(2, 2)
    with torch.no_grad():
        for layer in (first, last):
            layer.weight.copy_(torch.eye(2))
            layer.bias.zero_()
    return nn.Sequential(first, nn.ReLU(), nn.Dropout(dropout), last)


# relu(x) of each row, and its softmax: softmax([0, ln 3]) = [1/4, 3/4], softmax([ln 2, ln 2]) = [1/2, 1/2]
X = torch.tensor([[-1.0, math.log(3.0)], [math.log(2.0), math.log(2.0)], [0.0, 0.0]])
RELU = X.clamp(min=0).numpy()
PROBS = np.array([[0.25, 0.75], [0.5, 0.5], [0.5, 0.5]])
Y = torch.tensor([1, 0, 1])


def data(with_index: bool = True) -> TensorDataset:
    return TensorDataset(X, Y, torch.arange(3)) if with_index else TensorDataset(X, Y)


def test_probs_and_last_linear_input_by_index_under_shuffling():
    gen = torch.Generator().manual_seed(0)
    loader = DataLoader(data(), batch_size=2, shuffle=True, generator=gen)
    out = extract_outputs(identity_net(), loader, progress=False)
    np.testing.assert_allclose(out.probs, PROBS, rtol=1e-6)
    np.testing.assert_allclose(out.embeddings, RELU, rtol=1e-6)
    np.testing.assert_array_equal(out.labels, Y.numpy())
    assert out.probs.dtype == np.float32 and out.embeddings.dtype == np.float32


def test_named_layer_output_and_float16():
    out = extract_outputs(
        identity_net(), DataLoader(data(False), batch_size=2), layer="0", dtype="float16", progress=False
    )
    np.testing.assert_array_equal(out.embeddings, X.numpy().astype(np.float16))  # before the ReLU
    assert out.embeddings.dtype == np.float16


def test_eval_mode_during_the_pass_and_each_module_mode_restored():
    model = identity_net(dropout=0.99)
    model.train()
    model[0].eval()  # a frozen submodule must stay frozen afterwards
    out = extract_outputs(model, DataLoader(data(), batch_size=3), progress=True)
    np.testing.assert_allclose(out.probs, PROBS, rtol=1e-6)  # dropout was off
    assert model.training and model[2].training and not model[0].training


def test_modes_are_restored_after_a_failure():
    model = identity_net()
    model.train()
    with pytest.raises(ValueError, match="yielded twice"):
        extract_outputs(model, [(X[:2], Y[:2], [0, 1]), (X[1:], Y[1:], [1, 2])], n=3, progress=False)
    assert all(m.training for m in model.modules())
    assert not model[3]._forward_pre_hooks  # the hook is gone


def test_order_without_indices():
    model = identity_net()
    out = extract_outputs(model, DataLoader(data(False), batch_size=2), progress=False)
    np.testing.assert_allclose(out.probs, PROBS, rtol=1e-6)
    shuffled = DataLoader(data(False), batch_size=2, shuffle=True)
    with pytest.raises(ValueError, match="yields no indices and does not iterate in order"):
        extract_outputs(model, shuffled, progress=False)
    sampled = DataLoader(data(False), batch_size=2, sampler=RandomSampler(data(False)))
    with pytest.raises(ValueError, match="does not iterate in order"):
        extract_outputs(model, sampled, progress=False)
    # a plain iterable is read in order; n must be given
    plain = [(X[:1], Y[:1]), (X[1:], Y[1:])]
    np.testing.assert_allclose(extract_outputs(model, plain, n=3, progress=False).probs, PROBS, rtol=1e-6)
    with pytest.raises(ValueError, match="pass `n`"):
        extract_outputs(model, plain, progress=False)
    with pytest.raises(ValueError, match="more than n = 2"):
        extract_outputs(model, plain, n=2, progress=False)


def test_unpack_for_dict_batches_and_inputs_only():
    rows = [{"pixels": X[i : i + 1], "idx": torch.tensor([i])} for i in (2, 0, 1)]
    out = extract_outputs(
        identity_net(), rows, n=3, unpack=lambda b: (b["pixels"], None, b["idx"]), progress=False
    )
    np.testing.assert_allclose(out.probs, PROBS, rtol=1e-6)
    assert out.labels is None
    assert unpack_batch(X).labels is None and unpack_batch((X,)).inputs is X
    with pytest.raises(ValueError, match="cannot read a batch of type dict: pass `unpack`"):
        extract_outputs(identity_net(), rows, n=3, progress=False)
    with pytest.raises(ValueError, match="tuple with 4 items"):
        unpack_batch((X, Y, Y, Y))


@pytest.mark.parametrize(
    ("model", "layer", "match"),
    [
        (identity_net(), "fc", r"'fc' is not a submodule of the model; some are: \['0', '1', '2', '3'\]"),
        (nn.Sequential(nn.Flatten()), None, "has no nn.Linear"),
        (nn.Sequential(nn.Linear(2, 2), nn.Flatten(0)), None, r"must return a \(B, C\) logits tensor"),
        (nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2)), "", "is not a submodule"),
    ],
)
def test_model_and_layer_errors(model, layer, match):
    with pytest.raises(ValueError, match=match):
        extract_outputs(model, DataLoader(data(), batch_size=3), layer=layer, progress=False)


def test_a_layer_called_twice_is_refused():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    with pytest.raises(ValueError, match="gave 2 outputs in one forward pass"):
        extract_outputs(model, DataLoader(data(), batch_size=3), layer="0", progress=False)


def test_missing_examples_and_partial_labels():
    model = identity_net()
    with pytest.raises(ValueError, match=r"1 of 3 examples never came from `loader` \(first: \[2\]\)"):
        extract_outputs(model, [(X[:2], Y[:2], [0, 1])], n=3, progress=False)
    with pytest.raises(ValueError, match="labels in some batches only"):
        extract_outputs(model, [(X[:2], Y[:2], [0, 1]), (X[2:], None, [2])], n=3, progress=False)
    with pytest.raises(ValueError, match="`n` must be a positive int"):
        extract_outputs(model, [], n=0, progress=False)


def test_extract_signals_labels():
    model = identity_net()
    sig = extract_signals(model, DataLoader(data(), batch_size=2), clean_labels=[1, 1, 1], progress=False)
    np.testing.assert_array_equal(sig.labels, Y.numpy())
    assert sig.meta == {"producer": "prune4rel.warmup.extract", "model": "Sequential"}
    assert sig.noise_rate() == pytest.approx(1 / 3) and not sig.has("losses")
    no_labels = [X]
    sig = extract_signals(model, no_labels, n=3, labels=[0, 0, 1], progress=False)
    np.testing.assert_array_equal(sig.labels, [0, 0, 1])
    with pytest.raises(ValueError, match="yields no labels: pass `labels`"):
        extract_signals(model, no_labels, n=3, progress=False)
    with pytest.raises(ValueError, match="`labels` differ from the labels the loader yields"):
        extract_signals(model, DataLoader(data(), batch_size=2), labels=[0, 0, 0], progress=False)
