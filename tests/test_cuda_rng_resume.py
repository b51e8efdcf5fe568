"""RNG states in a learner checkpoint on CUDA, without a GPU: torch.cuda's RNG functions are
replaced by a stand-in for a machine with a given number of GPUs (each with its own state).

A checkpoint keeps the training GPU's CUDA RNG state only, and resuming puts it on the
resuming learner's GPU: before, every visible GPU's state was saved and restored by index,
so a checkpoint from a machine with more GPUs crashed the resume (IndexError), and a learner
resumed on another GPU index got another GPU's stream. RNG states that ``torch.load(...,
map_location="cuda")`` put on the GPU go back to the host before they are set.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch

from prune4rel.data import NoisyDataset, from_arrays
from prune4rel.learners import ELR, Callback, Learner
from prune4rel.learners.runtime import device_rng_state, set_device_rng_state


class FakeCudaRng:
    """torch.cuda's RNG functions on a machine with ``count`` GPUs."""

    def __init__(self, count: int) -> None:
        self.states = [torch.full((16,), i, dtype=torch.uint8) for i in range(count)]

    def _index(self, device: Any) -> int:
        index = torch.device(device).index if device is not None else 0
        if index is None or index >= len(self.states):
            raise IndexError("tuple index out of range")  # torch.cuda.default_generators[index]
        return index

    def get_rng_state(self, device: Any = "cuda") -> torch.Tensor:
        return self.states[self._index(device)].clone()

    def set_rng_state(self, state: torch.Tensor, device: Any = "cuda") -> None:
        assert state.device.type == "cpu"
        self.states[self._index(device)] = state.clone()

    def get_rng_state_all(self) -> list[torch.Tensor]:
        return [s.clone() for s in self.states]

    def set_rng_state_all(self, states: list[torch.Tensor]) -> None:
        for i, state in enumerate(states):
            self.set_rng_state(state, i)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeCudaRng:
        for name in ("get_rng_state", "set_rng_state", "get_rng_state_all", "set_rng_state_all"):
            monkeypatch.setattr(torch.cuda, name, getattr(self, name))
        return self


def test_a_checkpoint_from_a_larger_machine_resumes_on_another_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    saver = FakeCudaRng(2).install(monkeypatch)
    saver.states[1] = torch.arange(16, dtype=torch.uint8)  # the training GPU's stream
    saved = device_rng_state(torch.device("cuda", 1))
    resumer = FakeCudaRng(1).install(monkeypatch)
    set_device_rng_state(torch.device("cuda", 0), saved)
    assert torch.equal(resumer.states[0], torch.arange(16, dtype=torch.uint8))


def test_a_state_per_gpu_gives_the_resuming_gpus_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCudaRng(3).install(monkeypatch)
    per_gpu = [torch.full((16,), 10 + i, dtype=torch.uint8) for i in range(2)]  # as saved before
    set_device_rng_state(torch.device("cuda", 1), per_gpu)
    assert torch.equal(fake.states[1], per_gpu[1]) and int(fake.states[0][0]) == 0
    with pytest.raises(ValueError, match="2 GPUs, none for cuda:2"):
        set_device_rng_state(torch.device("cuda", 2), per_gpu)
    set_device_rng_state(torch.device("cpu"), per_gpu)  # off CUDA: nothing to restore


class OnTheGpu:
    """An RNG state that ``torch.load(..., map_location="cuda")`` moved to the GPU: only its
    ``cpu()`` is a host ByteTensor (the only way a GPU ByteTensor can be used as a state)."""

    def __init__(self, state: torch.Tensor) -> None:
        self.state = state

    def cpu(self) -> torch.Tensor:
        return self.state


class Snapshot(Callback):
    def __init__(self) -> None:
        self.state: dict[str, Any] | None = None

    def on_epoch_end(self, learner: Learner, epoch: int, logs: dict[str, Any]) -> None:
        if self.state is None:
            self.state = copy.deepcopy(learner.state_dict())


def blobs(n: int = 64, c: int = 3, d: int = 5) -> NoisyDataset:
    rng = np.random.default_rng(0)
    y = np.arange(n) % c
    x = (rng.normal(size=(c, d))[y] * 3 + rng.normal(size=(n, d))).astype(np.float32)
    return from_arrays(x, y, x[:12].copy(), y[:12], clean_labels=y, num_classes=c)


def test_rng_states_loaded_onto_a_gpu_are_restored_from_the_host() -> None:
    ds, settings = blobs(), {"model": "mlp", "num_threads": 1, "seed": 0, "batch_size": 16}
    snap = Snapshot()
    whole = ELR(**settings).fit(ds, epochs=2, progress=False, callbacks=[snap])
    assert snap.state is not None
    state = {**snap.state, "generator": OnTheGpu(snap.state["generator"]),
             "torch_rng": OnTheGpu(snap.state["torch_rng"])}
    resumed = ELR(**settings)
    resumed.load_state_dict(state)
    logs = resumed.fit(ds, epochs=2, progress=False)
    assert logs[0]["loss"] == whole[1]["loss"]
