"""The run directory: --no-resume deletes only what the manifest names, one run at a time, and a
SIGKILLed run resumes to the uninterrupted result."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_lock import hold_in_subprocess

from prune4rel._lock import LockedError
from prune4rel.cli import main
from prune4rel.pipeline import ResumeWarning, RunConfig, run_experiment

SRC = Path(__file__).resolve().parents[1] / "src"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "run_2a1b647"
USER_FILES = {"subset_mine.npy": b"mine", "result_old_experiment.json": b"{}", "notes.txt": b"hello"}


def digits_config(**overrides) -> RunConfig:
    learner = {"num_threads": 1, "batch_size": 64}
    raw = {
        "seed": 0,
        "data": {"dataset": "digits", "train_subset": 300, "test_subset": 100},
        "warmup": {"epochs": 1, "model": "mlp", "params": learner},
        "selection": {"methods": ["uniform"], "fractions": [0.5]},
        "train": {"learner": "ce", "epochs": 2, "model": "mlp", "params": learner},
    }
    return RunConfig.from_dict(raw).with_overrides(overrides)


def manifest(run_dir: Path) -> set[str]:
    return set(json.loads((run_dir / "manifest.json").read_text())["files"])


def add_user_files(run_dir: Path) -> None:
    for name, data in USER_FILES.items():
        (run_dir / name).write_bytes(data)


def assert_user_files_intact(run_dir: Path) -> None:
    for name, data in USER_FILES.items():
        assert (run_dir / name).read_bytes() == data, name


def test_no_resume_deletes_only_the_files_the_manifest_names(tmp_path):
    run_experiment(digits_config(), tmp_path, progress=False)
    add_user_files(tmp_path)
    assert not USER_FILES.keys() & manifest(tmp_path)
    other = digits_config(**{"warmup_epochs": 2, "methods": ["small_loss"]})
    with pytest.raises(ValueError, match=r"warmup\.epochs"):
        run_experiment(other, tmp_path, progress=False)
    run_experiment(other, tmp_path, resume=False, progress=False)
    assert_user_files_intact(tmp_path)
    assert not (tmp_path / "result_uniform_0.5.json").exists()  # the first run's files are gone
    assert (tmp_path / "result_small_loss_0.5.json").is_file()
    assert "result_uniform_0.5.json" not in manifest(tmp_path)


def test_no_resume_leaves_a_link_or_folder_put_in_place_of_a_recorded_file(tmp_path):
    run_experiment(digits_config(), tmp_path, progress=False)
    (tmp_path / "metrics_uniform_0.5.jsonl").unlink()
    (tmp_path / "metrics_uniform_0.5.jsonl").mkdir()
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep")
    (tmp_path / "result_uniform_0.5.json").unlink()
    (tmp_path / "result_uniform_0.5.json").symlink_to(target)
    other = digits_config(warmup_epochs=2, methods=["small_loss"])
    run_experiment(other, tmp_path, resume=False, progress=False)
    assert (tmp_path / "metrics_uniform_0.5.jsonl").is_dir()
    assert (tmp_path / "result_uniform_0.5.json").is_symlink() and target.read_text() == "keep"


def test_a_manifest_that_is_not_prune4rels_is_left_alone(tmp_path):
    (tmp_path / "manifest.json").write_text('{"mine": true}')
    with pytest.raises(ValueError, match="not a prune4rel manifest"):
        run_experiment(digits_config(), tmp_path, progress=False)
    assert (tmp_path / "manifest.json").read_text() == '{"mine": true}'


def test_an_old_run_directory_gets_a_manifest_of_exactly_its_configs_files(tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURE, run_dir)
    add_user_files(run_dir)
    (run_dir / "result_kcenter_0.3.json").write_text("{}")  # a run's name, but not this config's
    config = RunConfig.from_yaml(run_dir / "config.yaml")
    run_experiment(config, run_dir, progress=False)  # resumes: nothing to compute
    # the fixture's files, and the warm-up checkpoint name the resumed run asked for
    assert manifest(run_dir) == {p.name for p in FIXTURE.iterdir()} | {"ckpt_warmup.pt"}

    other = config.with_overrides({"seed": 1, "methods": ["uniform"], "fractions": [0.3], "epochs": 1})
    run_experiment(other, run_dir, resume=False, progress=False)
    assert_user_files_intact(run_dir)
    assert (run_dir / "result_kcenter_0.3.json").read_text() == "{}"
    left = {p.name for p in run_dir.iterdir()}
    assert "result_prune4rel_0.3.json" not in left and "subset_small_loss_0.3.npy" not in left
    assert json.loads((run_dir / "result_uniform_0.3.json").read_text())["seed"] == 1


def test_no_resume_on_an_old_run_directory_deletes_only_its_configs_names(tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURE, run_dir)
    add_user_files(run_dir)
    config = RunConfig.from_yaml(run_dir / "config.yaml")
    other = config.with_overrides({"seed": 1, "methods": ["uniform"], "fractions": [0.3], "epochs": 1})
    run_experiment(other, run_dir, resume=False, progress=False)
    assert_user_files_intact(run_dir)
    rewritten = {"config.yaml", "signals.npz", "subset_uniform_0.3.npy", "subset_uniform_0.3.json",
                 "metrics_uniform_0.3.jsonl", "result_uniform_0.3.json"}
    fixture_only = {p.name for p in FIXTURE.iterdir()} - rewritten
    assert not fixture_only & {p.name for p in run_dir.iterdir()}


def test_a_run_is_refused_while_another_process_holds_the_directory_and_goes_on_once_it_is_killed(tmp_path):
    holder = hold_in_subprocess(tmp_path / ".prune4rel.lock")
    try:
        with pytest.raises(LockedError, match=rf"run directory .* is in use by pid {holder.pid} on host "
                                              rf"{socket.gethostname()} since "):
            run_experiment(digits_config(), tmp_path, progress=False)
        assert not (tmp_path / "config.yaml").exists()  # refused before touching anything
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with pytest.warns(UserWarning, match=rf"taking over the lock of run directory .* from pid {holder.pid}"):
        run_experiment(digits_config(), tmp_path, progress=False)
    assert not (tmp_path / ".prune4rel.lock").exists()


def test_the_lock_is_released_when_the_run_fails(tmp_path, monkeypatch):
    from prune4rel.pipeline import run as run_module

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(run_module, "load_dataset", broken)
    with pytest.raises(RuntimeError, match="boom"):
        run_experiment(digits_config(), tmp_path, progress=False)
    assert not (tmp_path / ".prune4rel.lock").exists()


def _cli_run(out: Path, epochs: int) -> list[str]:
    return [
        "run", "--dataset", "digits", "--train-subset", "300", "--test-subset", "100", "--model", "mlp",
        "--learner", "ce", "--method", "uniform", "--fractions", "0.5", "--warmup-epochs", "1",
        "--epochs", str(epochs), "--set", "train.params.num_threads=1",
        "--set", "warmup.params.num_threads=1", "--set", "train.params.batch_size=16",
        "--out", str(out), "--quiet",
    ]


def _wait_for(condition, proc: subprocess.Popen, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, "the run did not get there in time"
        time.sleep(0.05)


def _metrics_lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.is_file() else 0


def test_a_concurrent_run_is_refused_and_a_sigkilled_run_resumes_to_the_uninterrupted_result(tmp_path):
    epochs = 12
    reference = tmp_path / "reference"
    assert CliRunner().invoke(main, _cli_run(reference, epochs)).exit_code == 0

    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cmd = [sys.executable, "-c", "from prune4rel.cli import main; main()", *_cli_run(out, epochs)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        metrics = out / "metrics_uniform_0.5.jsonl"
        _wait_for(lambda: _metrics_lines(metrics) >= 2, proc)
        second = CliRunner().invoke(main, _cli_run(out, epochs))
        assert second.exit_code != 0
        assert f"is in use by pid {proc.pid} on host {socket.gethostname()}" in second.output
        assert len(second.output.strip().splitlines()) == 1  # a message, no traceback
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert _metrics_lines(metrics) < epochs  # killed during training
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with pytest.warns(UserWarning, match=f"taking over the lock of run directory .* from pid {proc.pid}"):
        resumed = CliRunner().invoke(main, _cli_run(out, epochs))
    assert resumed.exit_code == 0, resumed.output
    want = json.loads((reference / "result_uniform_0.5.json").read_text())
    got = json.loads((out / "result_uniform_0.5.json").read_text())
    for result in (want, got):
        result.pop("seconds")
    assert got == want
    assert (out / "metrics_uniform_0.5.jsonl").read_text().count("\n") == epochs
    assert not (out / ".prune4rel.lock").exists()


def test_a_subset_file_that_does_not_match_its_record_is_noticed_and_redone(tmp_path):
    first = run_experiment(digits_config(), tmp_path, progress=False)["results"][0]
    np.save(tmp_path / "subset_uniform_0.5.npy", np.arange(150))  # e.g. another writer's indices
    with pytest.warns(ResumeWarning, match=r"subset_uniform_0\.5\.npy does not match its \.json record"):
        again = run_experiment(digits_config(), tmp_path, progress=False)["results"][0]
    for result in (first, again):
        result.pop("seconds")
    assert again == first
