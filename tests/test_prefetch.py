"""Reading batches ahead (the CUDA input pipeline of memory-mapped sets), tested on the CPU:
order, each batch once, bounded look-ahead, errors at their batch, clean shutdown; how rows
reach a device (never pinning a tensor already there); the read-ahead path of the input
pipeline gives the batches of the plain one."""

from __future__ import annotations

import threading
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
import torch

import prune4rel.data.input_pipeline as input_pipeline
from prune4rel.data import InputPipeline
from prune4rel.data.input_pipeline import plan_gather, read_ahead
from prune4rel.data.prefetch import Prefetcher
from prune4rel.devices import VisibleGPUs

CPU = torch.device("cpu")


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "prune4rel-prefetch"]


class Counting:
    """``produce`` that records its calls, optionally failing at one index."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls: list[int] = []
        self.fail_at = fail_at

    def __call__(self, i: int) -> torch.Tensor:
        if i == self.fail_at:
            raise OSError(f"cannot read batch {i}")
        self.calls.append(i)
        return torch.full((3,), i)


@pytest.mark.parametrize("ahead", [1, 3])
def test_batches_come_in_order_each_once(ahead: int) -> None:
    produce = Counting()
    lead = []
    with Prefetcher(produce, 40, CPU, ahead) as batches:
        got = []
        for i, b in enumerate(batches):
            lead.append(len(produce.calls) - i)
            got.append(int(b[0]))
            time.sleep(0.001 * (i % 3))
    assert got == list(range(40)) and produce.calls == list(range(40))
    # at most `ahead` waiting in the queue plus one being handed over
    assert max(lead) <= ahead + 2
    assert not _workers()


def test_an_error_is_raised_at_its_batch_and_stops_the_worker() -> None:
    produce = Counting(fail_at=5)
    got = []
    with pytest.raises(OSError, match="cannot read batch 5"), Prefetcher(produce, 20, CPU, 2) as batches:
        for b in batches:
            got.append(int(b[0]))
    assert got == [0, 1, 2, 3, 4] and produce.calls == [0, 1, 2, 3, 4]
    assert not _workers()


def test_stopping_early_shuts_the_worker_down() -> None:
    produce = Counting()
    with Prefetcher(produce, 1000, CPU, 2) as batches:
        for i, _ in enumerate(batches):
            if i == 2:
                break
    assert not _workers() and len(produce.calls) <= 3 + 2 + 1
    closed = Prefetcher(produce, 5, CPU, 1)
    closed.close()
    with pytest.raises(RuntimeError, match="closed"):
        next(iter(closed))


def test_nothing_to_read_and_bad_arguments() -> None:
    with Prefetcher(Counting(), 0, CPU, 2) as batches:
        assert list(batches) == []
    with pytest.raises(ValueError, match="`ahead`"):
        Prefetcher(Counting(), 3, CPU, 0)


@pytest.mark.parametrize(
    ("source", "device", "plan"),
    [
        ("cuda:0", "cuda", "index"),  # the H200 crash: compared unresolved, then pinned a GPU tensor
        ("cuda:0", "cuda:0", "index"),
        ("cuda:1", "cuda:0", "copy"),  # another GPU: copied, never pinned
        ("cpu", "cuda:0", "pinned"),
        ("cpu", "cpu", "index"),
        ("cpu", "meta", "copy"),
    ],
)
def test_how_rows_reach_the_device(source: str, device: str, plan: str) -> None:
    source_dev, target = torch.device(source), torch.device(device)
    assert plan_gather(source_dev, target, VisibleGPUs(2)) == plan


def test_only_host_rows_going_to_a_gpu_are_read_ahead() -> None:
    cuda0 = torch.device("cuda", 0)
    assert read_ahead(CPU, cuda0, 2) == 2
    assert read_ahead(cuda0, cuda0, 2) == 0 and read_ahead(CPU, CPU, 2) == 0


@pytest.fixture
def mapped_images(tmp_path: Path) -> np.ndarray:
    x = np.random.default_rng(0).integers(0, 256, size=(50, 4, 4, 3), dtype=np.uint8)
    np.save(tmp_path / "x.npy", x)
    return np.load(tmp_path / "x.npy", mmap_mode="r")


@pytest.mark.parametrize("forced", [False, True])
def test_read_ahead_batches_equal_gathered_ones(monkeypatch, mapped_images: np.ndarray, forced: bool) -> None:
    if forced:  # the threaded path, as on a GPU, with a CPU delivery
        monkeypatch.setattr(input_pipeline, "read_ahead", lambda source, device, depth: depth)
    pipe = InputPipeline(np.full(3, 0.5), np.full(3, 0.25), True, "cpu")
    raw = pipe.stage(mapped_images)
    batches = torch.tensor_split(torch.randperm(50, generator=torch.Generator().manual_seed(0)), 7)
    with closing(pipe.gathered(raw, batches)) as stream:
        got = list(stream)
    assert len(got) == 7
    for idx, x in zip(batches, got):
        torch.testing.assert_close(x, pipe.gather(raw, idx), rtol=0, atol=0)
    with closing(pipe.uploaded(mapped_images, 16)) as stream:
        uploaded = torch.cat(list(stream))
    torch.testing.assert_close(uploaded, pipe(torch.from_numpy(np.array(mapped_images))), rtol=0, atol=0)
    with closing(pipe.gathered(raw, batches)) as stream:  # stopped early: no thread left behind
        next(stream)
    assert not _workers()


@pytest.mark.gpu
def test_in_memory_inputs_on_cuda_are_indexed_in_place() -> None:
    pipe = InputPipeline(np.full(3, 0.5), np.full(3, 0.25), True, "cuda")  # resolved to cuda:N
    x = np.random.default_rng(0).integers(0, 256, size=(20, 4, 4, 3), dtype=np.uint8)
    raw = pipe.stage(x)
    assert raw.device == pipe.device and pipe.device.index is not None
    idx = torch.arange(0, 20, 3, device=pipe.device)
    got = pipe.gather(raw, idx)  # the H200 crash: "cannot pin 'torch.cuda.ByteTensor'"
    torch.testing.assert_close(got.cpu(), pipe(torch.from_numpy(x[::3]).to(pipe.device)).cpu())


@pytest.mark.gpu
@pytest.mark.parametrize("prefetch", [0, 1, 3])
def test_mapped_batches_read_ahead_on_cuda_equal_gathered_ones(
    mapped_images: np.ndarray, prefetch: int
) -> None:
    pipe = InputPipeline(np.full(3, 0.5), np.full(3, 0.25), True, "cuda")
    pipe.prefetch = prefetch
    raw = pipe.stage(mapped_images)
    assert raw.device.type == "cpu"
    order = torch.randperm(50, generator=torch.Generator().manual_seed(0)).to(pipe.device)
    batches = torch.tensor_split(order, 7)
    with closing(pipe.gathered(raw, batches)) as stream:
        got = [x.clone() for x in stream]  # consumed on the default stream after the copy's event
    want = [pipe(torch.from_numpy(np.array(mapped_images))[b.cpu()].to(pipe.device)) for b in batches]
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with closing(pipe.uploaded(mapped_images, 16)) as stream:
        uploaded = torch.cat(list(stream))
    torch.testing.assert_close(uploaded, pipe(torch.from_numpy(np.array(mapped_images)).to(pipe.device)))
    assert not _workers()
