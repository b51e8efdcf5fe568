"""Host state meeting device compute: every learner with its per-example state on the host and
its network on a stand-in accelerator (``meta``, see ``fake_accelerator.py``), in memory and
from a memory-mapped file, through fit, predict, re-labels, the warm-up recorder and a
checkpoint round trip. On a GPU this is ``device="cuda", state_device="cpu"``, which crashed
DivideMix.corrected_labels; here the same mix fails the same way, without a GPU."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_accelerator import FAKE, FakeAccelerator

from prune4rel.data import NoisyDataset
from prune4rel.learners import Callback, EpochRecorder, Learner, get_learner

LEARNERS = ["ce", "elr", "sop", "sop+", "dividemix"]
SETTINGS = {"model": "small_cnn", "batch_size": 16, "num_threads": 1, "seed": 0}


def images(n: int = 48) -> NoisyDataset:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n, 8, 8, 3), dtype=np.uint8)
    y = rng.integers(0, 3, n)
    return NoisyDataset(x=x, noisy_labels=y, x_test=x[:8].copy(), y_test=y[:8], num_classes=3,
                        clean_labels=(y + (np.arange(n) % 4 == 0)) % 3)


def mapped(ds: NoisyDataset, folder: Path) -> NoisyDataset:
    np.save(folder / "x.npy", ds.x)
    return NoisyDataset(x=np.load(folder / "x.npy", mmap_mode="r"), noisy_labels=ds.noisy_labels,
                        x_test=ds.x_test, y_test=ds.y_test, num_classes=ds.num_classes,
                        clean_labels=ds.clean_labels)


def learner(name: str, **kwargs: object) -> Learner:
    extra = {"warmup_epochs": 1, "rampup_epochs": 1} if name == "dividemix" else {}
    return get_learner(name, **SETTINGS, **extra, device=FAKE, **kwargs)


class SaveAfterFirstEpoch(Callback):
    def __init__(self) -> None:
        self.saved: bytes | None = None

    def on_epoch_end(self, learner: Learner, epoch: int, logs: dict) -> None:
        if self.saved is None:
            buf = io.BytesIO()
            torch.save(learner.state_dict(), buf)
            self.saved = buf.getvalue()


def test_the_stand_in_refuses_what_cuda_refuses() -> None:
    host, device = torch.zeros(4), torch.zeros(4, device=FAKE)
    with FakeAccelerator():
        with pytest.raises(RuntimeError, match="device"):
            torch.where(host > 0, device, device)
        with pytest.raises(RuntimeError, match="device"):
            host + device
        with pytest.raises(RuntimeError, match="host tensor indexed"):
            host[torch.arange(2, device=FAKE)]
        assert device[torch.arange(2)].device == FAKE  # device tensor, host indices: allowed
        assert device.cpu().device.type == "cpu" and float(device.sum()) == 1.0  # placeholder reads


@pytest.mark.parametrize("state_device", ["cpu", None])
@pytest.mark.parametrize("name", LEARNERS)
def test_learner_with_host_state_on_an_accelerator(
    tmp_path: Path, name: str, state_device: str | None
) -> None:
    data = images()
    for ds, dtype in ((data, "float32"), (mapped(data, tmp_path), "float16")):
        with FakeAccelerator():
            saver = SaveAfterFirstEpoch()
            first = learner(name, state_device=state_device, state_dtype=dtype)
            first.fit(ds, epochs=2, progress=False, callbacks=[saver])
            where = "cpu" if state_device == "cpu" else "meta"
            assert {t.device.type for t in first.per_example_tensors().values()} <= {where}
            assert next(first.model.parameters()).device == FAKE
            probs, emb = first.predict(ds)
            assert probs.shape == (ds.n, 3) and emb.shape[0] == ds.n
            assert first.corrected_labels().shape == (ds.n,)
            assert 0.0 <= first.relabel_accuracy() <= 1.0
            resumed = learner(name, state_device=state_device, state_dtype=dtype)
            assert saver.saved is not None
            resumed.load_state_dict(torch.load(io.BytesIO(saver.saved), weights_only=True))
            logs = resumed.fit(ds, epochs=2, progress=False)
            assert [log["epoch"] for log in logs] == [1] and resumed.epochs_done == 2


@pytest.mark.parametrize("state_device", ["cpu", None])
def test_the_warmup_recorder_on_an_accelerator(state_device: str | None) -> None:
    ds = images()
    recorder = EpochRecorder()  # what the warm-up records signals with
    with FakeAccelerator():
        learner("elr", state_device=state_device).fit(ds, epochs=2, progress=False, callbacks=[recorder])
    assert recorder.losses.shape == recorder.correct.shape == recorder.margins.shape == (2, ds.n)
