"""Device resolution: the pure decision with ``torch.device`` objects and faked visible GPUs
(so "cuda" vs "cuda:0" fails here, not on a GPU), and where learners, pipelines, selectors
and DDP processes are built."""

from __future__ import annotations

import pytest
import torch

import prune4rel.devices as devices
from prune4rel.devices import DeviceError, VisibleGPUs, decide_device, resolve_device, same_device
from prune4rel.learners import get_learner
from prune4rel.selection import Prune4ReL
from prune4rel.validation import ParameterError

ONE, TWO, NONE = VisibleGPUs(1), VisibleGPUs(2, current=1), VisibleGPUs(0)


@pytest.mark.parametrize(
    ("spec", "gpus", "want"),
    [
        ("cuda", ONE, "cuda:0"),
        (torch.device("cuda"), ONE, "cuda:0"),
        ("cuda", TWO, "cuda:1"),  # the current GPU
        ("cuda:0", TWO, "cuda:0"),
        ("auto", ONE, "cuda:0"),
        ("auto", TWO, "cuda:1"),
        ("auto", NONE, "cpu"),
        ("cpu", ONE, "cpu"),
        (torch.device("cpu"), NONE, "cpu"),
        ("meta", NONE, "meta"),
    ],
)
def test_a_device_is_resolved_to_a_concrete_one(spec, gpus, want) -> None:
    assert decide_device(spec, gpus) == torch.device(want)


@pytest.mark.parametrize(
    ("spec", "gpus", "match"),
    [
        ("cuda:1", ONE, r"`device` must be 'cpu', 'auto', 'cuda' or 'cuda:0' \(1 CUDA device visible\), "
                        r"got 'cuda:1'"),
        ("cuda:2", TWO, r"'cuda:0' to 'cuda:1' \(2 CUDA devices visible\)"),
        ("cuda", NONE, "sees no CUDA GPU"),
        (torch.device("cuda", 0), NONE, "sees no CUDA GPU"),
        ("gpu", ONE, "got 'gpu'"),
        (3, ONE, "got '3'"),
    ],
)
def test_a_device_that_is_not_here_is_a_clear_error(spec, gpus, match) -> None:
    with pytest.raises(DeviceError, match=match) as info:
        decide_device(spec, gpus)
    assert isinstance(info.value, ValueError) and info.value.name == "device"


def test_errors_name_the_parameter() -> None:
    with pytest.raises(ValueError, match="`state_device` must be"):
        decide_device("cuda:4", ONE, name="state_device")


def test_same_device_compares_resolved_devices() -> None:
    cuda, cuda0, cuda1 = torch.device("cuda"), torch.device("cuda:0"), torch.device("cuda:1")
    assert cuda != cuda0  # torch's own comparison: the bug this module exists for
    assert same_device(cuda, cuda0, ONE)
    assert same_device("cuda", "cuda:1", TWO) and not same_device("cuda", "cuda:0", TWO)
    assert not same_device(cuda0, cuda1, TWO)
    assert same_device("cpu", torch.device("cpu")) and not same_device("cpu", cuda0, ONE)


def test_a_cpu_device_never_asks_torch_about_gpus(monkeypatch) -> None:
    def fail() -> VisibleGPUs:
        raise AssertionError("probed the GPUs for a CPU device")

    monkeypatch.setattr(devices, "visible_gpus", fail)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("meta")) == torch.device("meta")


@pytest.fixture
def one_gpu(monkeypatch) -> None:
    """Pretend torch sees one GPU (nothing is allocated on it by these tests)."""
    monkeypatch.setattr(devices, "visible_gpus", lambda: ONE)


@pytest.fixture
def no_gpu(monkeypatch) -> None:
    monkeypatch.setattr(devices, "visible_gpus", lambda: NONE)


@pytest.mark.parametrize("name", ["ce", "elr", "sop+", "dividemix"])
def test_learners_keep_the_resolved_device(one_gpu, name: str) -> None:
    learner = get_learner(name, device="cuda")
    assert learner.device == torch.device("cuda", 0)
    learner.set_params(device="auto")
    assert learner.device == torch.device("cuda", 0)
    with pytest.raises(ParameterError, match=r"`device` must be .*1 CUDA device visible.*got 'cuda:1'"):
        get_learner(name, device="cuda:1")


def test_a_learner_on_cuda_without_a_gpu_fails_when_built(no_gpu) -> None:
    with pytest.raises(ParameterError, match="`device` must be 'cpu' or 'auto'"):
        get_learner("sop+", device="cuda")
    assert get_learner("sop+", device="auto").device == torch.device("cpu")


def test_pipeline_device_is_resolved(one_gpu) -> None:
    from prune4rel.pipeline import resolve_device as pipeline_resolve

    assert pipeline_resolve("cuda") == pipeline_resolve("auto") == torch.device("cuda", 0)
    with pytest.raises(ValueError, match="got 'cuda:2'"):
        pipeline_resolve("cuda:2")


def test_selectors_keep_the_resolved_device(one_gpu) -> None:
    assert Prune4ReL(device="cuda").device == "cuda:0"
    assert Prune4ReL(device="cuda").graph_settings() == Prune4ReL(device="cuda:0").graph_settings()
    with pytest.raises(ParameterError, match="`device`"):
        Prune4ReL(device="cuda:1")


def test_selectors_on_cuda_without_a_gpu_are_a_clear_error(no_gpu) -> None:
    with pytest.raises(ParameterError, match="`device` must be 'cpu' or 'auto' \\(no CUDA device"):
        Prune4ReL(device="cuda")
    with pytest.raises(ValueError, match="`device`"):
        Prune4ReL(device="meta")


def test_a_ddp_process_gets_its_local_gpu(one_gpu, monkeypatch) -> None:
    from prune4rel.distributed.ddp import distributed

    with distributed(device="cuda") as ctx:  # no torchrun: one process, no process group
        assert ctx.device == torch.device("cuda", 0) and ctx.backend is None
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(ValueError, match=r"needs cuda:1 \(LOCAL_RANK\)"), distributed(device="cuda"):
        pass


@pytest.mark.gpu
def test_resolution_on_this_gpu_machine() -> None:
    current = torch.device("cuda", torch.cuda.current_device())
    assert resolve_device("cuda") == resolve_device("auto") == current
    assert same_device(torch.device("cuda"), current)
    with pytest.raises(DeviceError, match="got 'cuda:99'"):
        resolve_device("cuda:99")
