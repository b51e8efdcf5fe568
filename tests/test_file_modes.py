"""Every file and folder the commands write is as readable as the umask says (0644 and 0755
under umask 022), and no lock or temporary file is left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import softmax

from prune4rel.cli import main


@pytest.fixture(params=[0o022, 0o027])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def invoke(*args: str) -> None:
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output


def test_every_output_of_run_select_report_and_convert_follows_the_umask(tmp_path, umask):
    work = tmp_path / "work"  # created by the commands themselves
    run_dir = work / "runs" / "a"
    invoke("run", "--dataset", "digits", "--train-subset", "120", "--test-subset", "60", "--model", "mlp",
           "--learner", "ce", "--method", "uniform", "--fractions", "0.5", "--warmup-epochs", "1",
           "--epochs", "1", "--set", "train.params.num_threads=1", "--set", "warmup.params.num_threads=1",
           "--out", str(run_dir), "--quiet")
    invoke("select", str(run_dir / "signals.npz"), "--method", "uniform", "--fraction", "0.3",
           "--out", str(work / "sel" / "subset.npy"), "--quiet")
    invoke("report", str(run_dir), "--out", str(work / "report" / "table.md"),
           "--plot", str(work / "report" / "plot.png"))
    rng = np.random.default_rng(0)
    plain = tmp_path / "plain.npz"
    np.savez(plain, labels=rng.integers(0, 3, 50), probs=softmax(rng.normal(size=(50, 3))),
             embeddings=rng.normal(size=(50, 4)))
    invoke("convert-signals", str(plain), str(work / "conv" / "signals.npz"))

    files = {p.relative_to(work).as_posix(): p for p in work.rglob("*")}
    assert {"runs/a/result_uniform_0.5.json", "runs/a/manifest.json", "sel/subset.npy", "sel/subset.json",
            "report/table.md", "report/plot.png", "conv/signals.npz"} <= set(files)
    assert not [name for name in files if name.endswith((".tmp", ".lock"))]
    for name, path in files.items():
        mode = stat.S_IMODE(path.stat().st_mode)
        want = (0o777 if path.is_dir() else 0o666) & ~umask
        assert mode == want, f"{name}: {oct(mode)} instead of {oct(want)}"
    assert stat.S_IMODE(Path(run_dir).stat().st_mode) == 0o777 & ~umask
