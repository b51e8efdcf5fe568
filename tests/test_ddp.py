"""DDP warm-up and extraction (prune4rel.distributed.ddp): gloo, 2 processes on CPU.

One ``torch.multiprocessing.spawn`` job (the ``ddp_run`` fixture) runs every in-process
distributed check and saves what each rank saw; the tests compare it with single-process
runs of the same learners. One test starts the real entry point,
``prune4rel.pipeline.ddp_run``, under ``torchrun``.

Oracle for the training itself: with 2 ranks and per-rank batch b/2 on even global batches,
DDP averages two half-batch mean gradients, which is the full-batch mean gradient; on the
same example order, a network without batch-norm then takes the same SGD steps as one
process with batch b (up to float summation order), so the weights, every example's
recorded loss and the final predictions agree to float tolerance.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from prune4rel.config import DataConfig
from prune4rel.data import load_dataset
from prune4rel.distributed.ddp import _check_supported, ddp_predict, ddp_warmup, distributed, shard_epoch
from prune4rel.learners import CE, ELR, DivideMix, SOPPlus
from prune4rel.signals import Signals
from prune4rel.warmup import warmup

N, CLASSES, FEATURES, EPOCHS, BATCH = 256, 4, 8, 3, 32
N_ODD = 157  # extraction on a number of rows that 2 ranks cannot split evenly
NET = {"hidden": (32, 16), "batch_norm": False}
LEARNER_ARGS = {"model": "mlp", "model_kwargs": NET, "lr": 0.1, "seed": 0, "num_threads": 1}


def _write_blobs(path: Path) -> Path:
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 3, size=(CLASSES, FEATURES))
    clean = rng.integers(0, CLASSES, size=N + 64)
    x = (centers[clean] + rng.normal(size=(N + 64, FEATURES))).astype(np.float32)
    noisy = clean.copy()
    flip = rng.random(N + 64) < 0.2
    noisy[flip] = rng.integers(0, CLASSES, size=int(flip.sum()))
    np.savez(path, x_train=x[:N], y_train=noisy[:N], clean=clean[:N], x_test=x[N:], y_test=clean[N:])
    return path


def _dataset(path: Path):
    return load_dataset(DataConfig(dataset="arrays", path=str(path)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    folder = Path(out)
    with distributed(device="cpu") as ctx:
        assert (ctx.rank, ctx.world_size, ctx.backend) == (rank, world, "gloo")
        ds = _dataset(folder / "blobs.npz")
        ce = CE(batch_size=BATCH // world, **LEARNER_ARGS)
        signals = ddp_warmup(ce, ds, EPOCHS, progress=False)
        probs_odd, emb_odd = ddp_predict(ce, ds.x[:N_ODD])
        local_odd = ce.predict(ds.x[:N_ODD])
        probs_one, emb_one = ddp_predict(ce, ds.x[:1])  # rank 1's shard is empty
        elr = ELR(batch_size=BATCH // world, **LEARNER_ARGS)
        ddp_warmup(elr, ds, 2, record=False, progress=False)
        elr16 = ELR(batch_size=BATCH // world, state_dtype="bfloat16", **LEARNER_ARGS)
        ddp_warmup(elr16, ds, 2, record=False, progress=False)
        errors = {}
        try:
            ddp_warmup(SOPPlus(batch_size=8, **LEARNER_ARGS), ds, 1, progress=False)
        except ValueError as exc:
            errors["unsupported"] = str(exc)
        try:  # the ranks disagree: both must raise instead of hanging
            ddp_warmup(CE(batch_size=8 + 8 * rank, **LEARNER_ARGS), ds, 1, progress=False)
        except ValueError as exc:
            errors["disagree"] = str(exc)
        if rank == 0:
            signals.save(folder / "signals.npz")
        np.savez(
            folder / f"rank{rank}.npz",
            **{f"w_{k}": v.numpy() for k, v in ce.model.state_dict().items()},
            elr_targets=elr.targets.numpy(), elr_seen=elr._seen.numpy(),
            elr16_targets=elr16.targets.float().numpy(),
            probs=signals.probs, losses=signals.losses, correct=signals.correct,
            log_loss=np.array([h["loss"] for h in ce.history]),
            probs_odd=probs_odd, emb_odd=emb_odd, local_probs_odd=local_odd[0], local_emb_odd=local_odd[1],
            probs_one=probs_one, emb_one=emb_one,
        )
        (folder / f"errors{rank}.yaml").write_text(yaml.safe_dump(errors))
    # left the job: the group's gloo threads must be gone (see test_leaving_the_job_...)
    tasks = Path("/proc/self/task")
    names = [(tasks / t / "comm").read_text().strip() for t in os.listdir(tasks)] if tasks.is_dir() else ["?"]
    (folder / f"threads{rank}.txt").write_text("\n".join(names))


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ddp")
    _write_blobs(folder / "blobs.npz")
    torch.multiprocessing.spawn(_worker, args=(2, _free_port(), str(folder)), nprocs=2, join=True)
    return folder


def _rank(folder: Path, r: int) -> dict[str, np.ndarray]:
    with np.load(folder / f"rank{r}.npz") as f:
        return {k: f[k] for k in f.files}


def _single(cls: type, folder: Path, epochs: int, record: bool = True) -> tuple[CE | ELR, Signals]:
    learner = cls(batch_size=BATCH, **LEARNER_ARGS)
    return learner, warmup(learner, _dataset(folder / "blobs.npz"), epochs, record=record, progress=False)


# ---------------------------------------------------------------------- sharding
@pytest.mark.parametrize(
    ("m", "world", "batch", "steps"),
    [(256, 2, 16, 8), (257, 2, 16, 9), (10, 2, 3, 2), (3, 2, 1, 1), (7, 3, 64, 1), (5, 5, 2, 1)],
)
def test_shard_epoch_trains_every_example_once_with_equal_steps(m: int, world: int, batch: int,
                                                                steps: int) -> None:
    order = torch.randperm(m, generator=torch.Generator().manual_seed(m))
    parts = shard_epoch(order, world, batch)
    assert len(parts) == steps and all(len(step) == world for step in parts)
    sizes = [p.numel() for step in parts for p in step]
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1
    assert torch.equal(torch.cat([p for step in parts for p in step]), order)  # once each, in order


def test_shard_epoch_needs_one_example_per_rank() -> None:
    with pytest.raises(ValueError, match="at least one example per rank"):
        shard_epoch(torch.arange(1), 2, 4)


def test_supported_learners_are_those_declaring_data_parallel() -> None:
    _check_supported(CE())
    _check_supported(ELR())
    for learner in (SOPPlus(), DivideMix()):
        with pytest.raises(ValueError, match=r"not supported under DDP \(supported: CE, ELR\)"):
            _check_supported(learner)

    class OwnBatchStatistics(CE):  # a user's learner that declares it is not rank-separable
        data_parallel = False

    with pytest.raises(ValueError, match="OwnBatchStatistics is not supported"):
        _check_supported(OwnBatchStatistics())


# ---------------------------------------------------------------------- in-process DDP job
def test_ranks_end_with_identical_weights_and_state(ddp_run: Path) -> None:
    r0, r1 = _rank(ddp_run, 0), _rank(ddp_run, 1)
    weights = [k for k in r0 if k.startswith("w_")]
    assert weights
    for k in [*weights, "elr_targets", "elr_seen", "elr16_targets", "probs", "losses", "correct"]:
        np.testing.assert_array_equal(r0[k], r1[k], err_msg=k)


def test_gathered_signals_cover_every_example(ddp_run: Path) -> None:
    signals = Signals.load(ddp_run / "signals.npz")  # the loader rejects NaN: every row was filled
    assert signals.n == N
    assert signals.probs.shape == (N, CLASSES)
    assert signals.embeddings.shape == (N, NET["hidden"][-1])
    for name in ("losses", "correct", "margins"):
        assert getattr(signals, name).shape == (EPOCHS, N)
    assert signals.meta["world_size"] == 2 and signals.meta["global_batch_size"] == BATCH
    assert bool(_rank(ddp_run, 0)["elr_seen"].all())  # each ELR target was updated


def test_two_ranks_with_half_batches_match_one_process(ddp_run: Path) -> None:
    r0 = _rank(ddp_run, 0)
    learner, single = _single(CE, ddp_run, EPOCHS)
    assert learner.model is not None
    for k, v in learner.model.state_dict().items():
        np.testing.assert_allclose(r0[f"w_{k}"], v.numpy(), rtol=1e-4, atol=1e-5, err_msg=k)
    # each example's loss, recorded in the epoch and step it was trained, in dataset order
    np.testing.assert_allclose(r0["losses"], single.losses, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(r0["probs"], single.probs, rtol=1e-4, atol=1e-5)
    elr, _ = _single(ELR, ddp_run, 2, record=False)
    np.testing.assert_allclose(r0["elr_targets"], elr.targets.numpy(), rtol=1e-4, atol=1e-5)
    # bfloat16 state: synchronised exactly (see the first test), rounded like one process
    np.testing.assert_allclose(r0["elr16_targets"], elr.targets.numpy(), atol=2e-2)


def test_distributed_extraction_equals_predict(ddp_run: Path) -> None:
    r0 = _rank(ddp_run, 0)
    assert r0["probs_odd"].shape == (N_ODD, CLASSES)
    np.testing.assert_allclose(r0["probs_odd"], r0["local_probs_odd"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(r0["emb_odd"], r0["local_emb_odd"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(r0["probs_one"], r0["local_probs_odd"][:1], rtol=1e-6, atol=1e-7)
    assert r0["emb_one"].shape == (1, NET["hidden"][-1])


def test_training_loss_decreases_and_logs_are_global(ddp_run: Path) -> None:
    r0 = _rank(ddp_run, 0)
    per_epoch = r0["losses"].mean(axis=1)
    assert np.all(np.diff(per_epoch) < 0), per_epoch
    np.testing.assert_allclose(r0["log_loss"], per_epoch, rtol=1e-5)  # mean over both ranks' examples


def test_unsupported_learner_and_disagreeing_ranks_raise(ddp_run: Path) -> None:
    for r in (0, 1):
        errors = yaml.safe_load((ddp_run / f"errors{r}.yaml").read_text())
        assert "SOPPlus is not supported under DDP" in errors["unsupported"]
        assert "DDP ranks disagree on batch_size" in errors["disagree"]


def test_leaving_the_job_joins_the_gloo_threads(ddp_run: Path) -> None:
    # DDP imports torch.distributed.nn, whose default arguments hold the group they find at
    # import: imported after the group exists, it kept the gloo threads alive past
    # destroy_process_group, and a rank still exiting when its peer closed the connection
    # aborted ("terminate called without an active exception")
    for r in (0, 1):
        names = (ddp_run / f"threads{r}.txt").read_text().split("\n")
        if names == ["?"]:
            pytest.skip("no /proc/self/task to list this process's threads")
        assert not [n for n in names if "gloo" in n], names


# ---------------------------------------------------------------------- one process / torchrun
def test_one_process_is_plain_warmup(tmp_path: Path) -> None:
    ds = _dataset(_write_blobs(tmp_path / "blobs.npz"))
    with distributed(device="cpu") as ctx:
        assert (ctx.world_size, ctx.backend) == (1, None)
        got = ddp_warmup(CE(batch_size=BATCH, **LEARNER_ARGS), ds, 1, progress=False)
    want = warmup(CE(batch_size=BATCH, **LEARNER_ARGS), ds, 1, progress=False)
    np.testing.assert_array_equal(got.probs, want.probs)
    np.testing.assert_array_equal(got.losses, want.losses)


def test_torchrun_entry_point_writes_the_signals(ddp_run: Path, tmp_path: Path) -> None:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun is not installed next to this Python")
    config = {
        "seed": 0, "device": "cpu",
        "data": {"dataset": "arrays", "path": str(ddp_run / "blobs.npz")},
        "warmup": {"epochs": 1, "learner": "ce", "model": "mlp",
                   "params": {"batch_size": BATCH // 2, "lr": 0.1, "num_threads": 1, "model_kwargs": NET}},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "signals.npz"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "prune4rel.pipeline.ddp_run",
           "--config", str(tmp_path / "run.yaml"), "--out", str(out), "--epochs", str(EPOCHS), "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = Signals.load(out)
    assert got.meta["world_size"] == 2 and got.losses is not None and got.losses.shape == (EPOCHS, N)
    # the same job as the spawned one (config -> same data, learner and epochs): same signals
    want = Signals.load(ddp_run / "signals.npz")
    np.testing.assert_allclose(got.probs, want.probs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.losses, want.losses, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("initialized", [False, True])
def test_each_rank_makes_its_gpu_current_also_in_a_callers_group(monkeypatch, initialized: bool) -> None:
    """Under nccl, collectives with objects run on the current GPU: rank 1 must make cuda:1
    current whether this function creates the process group or the caller did."""
    import prune4rel.distributed.ddp as ddp

    made_current: list[torch.device] = []
    monkeypatch.setattr(ddp, "_resolve_device", lambda device, local, world: torch.device("cuda", local))
    monkeypatch.setattr(torch.cuda, "set_device", made_current.append)
    monkeypatch.setattr(ddp.dist, "is_initialized", lambda: initialized)
    monkeypatch.setattr(ddp.dist, "init_process_group", lambda **kwargs: None)
    monkeypatch.setattr(ddp.dist, "get_rank", lambda: 1)
    monkeypatch.setattr(ddp.dist, "get_world_size", lambda: 2)
    monkeypatch.setattr(ddp.dist, "get_backend", lambda: "nccl")
    monkeypatch.setattr(ddp.dist, "barrier", lambda: None)
    monkeypatch.setattr(ddp.dist, "destroy_process_group", lambda: None)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    with distributed("cuda") as ctx:
        assert ctx.device == torch.device("cuda", 1)
    assert made_current == [torch.device("cuda", 1)]
