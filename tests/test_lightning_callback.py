"""SignalsCallback around a tiny Lightning fit on CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

pl = pytest.importorskip("lightning.pytorch", reason="needs the [lightning] extra")

from prune4rel import Signals  # noqa: E402
from prune4rel.warmup.lightning import SignalsCallback  # noqa: E402

N, C = 24, 3


class Tiny(pl.LightningModule):
    """Linear -> ReLU -> Linear; training_step returns the logits (and features if asked)."""

    def __init__(self, lr: float, features: bool = False, logits: bool = True) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
        self.head = nn.Linear(8, C)
        self.lr, self.features, self.logits = lr, features, logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def training_step(self, batch, batch_idx):
        x, y, _ = batch
        z = self.body(x)
        logits = self.head(z)
        loss = F.cross_entropy(logits, y)
        if not self.logits:
            return loss
        out = {"loss": loss, "logits": logits.detach()}
        if self.features:
            out["features"] = z.detach()
        return out

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def dataset() -> TensorDataset:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(N, 4, generator=gen)
    y = torch.randint(0, C, (N,), generator=gen)
    return TensorDataset(x, y, torch.arange(N))


def fit(module, callback, epochs=2, **loader_kwargs) -> None:
    loader = DataLoader(dataset(), batch_size=5, shuffle=True, **loader_kwargs)
    trainer = pl.Trainer(
        max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[callback],
    )
    trainer.fit(module, loader)


def test_frozen_model_gives_its_own_loss_margin_and_outputs(tmp_path):
    """With lr = 0 the weights never change: every epoch's history is the model's own."""
    module = Tiny(lr=0.0)
    cb = SignalsCallback(save_to=tmp_path / "signals.npz", progress=False)
    fit(module, cb, epochs=3)
    sig = cb.signals
    x, y, _ = dataset().tensors
    with torch.no_grad():
        logits = module(x).double().numpy()
        features = module.body(x).numpy()
    yn = y.numpy()
    given = logits[np.arange(N), yn]
    others = np.where(np.eye(C, dtype=bool)[yn], -np.inf, logits).max(axis=1)
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert sig.losses.shape == sig.correct.shape == sig.margins.shape == (3, N)
    for epoch in range(3):
        np.testing.assert_allclose(sig.losses[epoch], -log_softmax[np.arange(N), yn], rtol=1e-5)
        np.testing.assert_array_equal(sig.correct[epoch], logits.argmax(1) == yn)
        np.testing.assert_allclose(sig.margins[epoch], given - others, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sig.probs, np.exp(log_softmax), rtol=1e-5)
    np.testing.assert_allclose(sig.embeddings, features, rtol=1e-6)  # the last Linear's input
    np.testing.assert_array_equal(sig.labels, yn)
    assert sig.meta["producer"] == "prune4rel.warmup.lightning" and sig.meta["first_epoch"] == 0
    assert Signals.load(tmp_path / "signals.npz").n == N
    assert module.training  # the extraction pass restored train mode


def test_learning_model_and_kept_training_outputs():
    module = Tiny(lr=0.5, features=True)
    cb = SignalsCallback(extract=False, dtype="float16")
    fit(module, cb, epochs=4)
    sig = cb.signals
    assert sig.losses.dtype == np.float16 and sig.embeddings.shape == (N, 8)
    assert sig.meta["outputs"] == "training-mode, last epoch"
    assert sig.losses[-1].astype(np.float64).mean() < sig.losses[0].astype(np.float64).mean()
    assert cb.recorder is not None and cb.recorder.epochs == 4


def test_a_separate_extraction_loader_in_order_and_a_named_layer():
    x, y, _ = dataset().tensors
    cb = SignalsCallback(loader=DataLoader(TensorDataset(x, y), batch_size=7), layer="body.0", progress=False)
    module = Tiny(lr=0.1)
    fit(module, cb, epochs=1)
    with torch.no_grad():
        np.testing.assert_allclose(cb.signals.embeddings, module.body[0](x).numpy(), rtol=1e-6)


def test_steps_without_logits_or_indices_and_partial_epochs_are_refused():
    with pytest.raises(ValueError, match=r"return \{'loss': loss, 'logits': logits\}"):
        fit(Tiny(lr=0.1, logits=False), SignalsCallback(progress=False))
    with pytest.raises(ValueError, match=r"got no batch in epoch 0.*drop_last"):
        fit(Tiny(lr=0.1), SignalsCallback(progress=False), drop_last=True)
    with pytest.raises(ValueError, match="needs each example's dataset index"):
        fit(Tiny(lr=0.1), SignalsCallback(unpack=lambda b: (b[0], b[1], None), progress=False))
