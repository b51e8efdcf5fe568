"""A run directory written before the restructuring (commit 2a1b647) still resumes.

``tests/fixtures/run_2a1b647`` was made by ``prune4rel run`` at that commit (digits, 300
examples, four selectors and the full-data reference). Resuming it with today's code must find
every stage up to date: the configuration hashes and the file formats are unchanged, so no
selector and no learner runs, and the returned results are the stored ones.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from prune4rel.learners import Learner
from prune4rel.pipeline import RunConfig, run_experiment
from prune4rel.selection import Selector

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "run_2a1b647"


def test_old_run_directory_resumes_without_recomputing(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURE, run_dir)
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}

    def refuse(*args, **kwargs):
        raise AssertionError("a stage was recomputed although its stored output matches")

    monkeypatch.setattr(Learner, "fit", refuse)
    monkeypatch.setattr(Selector, "select", refuse)
    config = RunConfig.from_yaml(run_dir / "config.yaml")
    summary = run_experiment(config, run_dir, resume=True, progress=False)

    stored = {p.name: json.loads(p.read_text()) for p in FIXTURE.glob("result_*.json")}
    got = {f"result_{r['method']}_{float(r['fraction'])}.json": r for r in summary["results"]}
    assert got == stored
    for name, data in before.items():
        if name != "config.yaml":  # rewritten with the same content
            assert (run_dir / name).read_bytes() == data, name


def test_old_run_directory_config_round_trips():
    config = RunConfig.from_yaml(FIXTURE / "config.yaml")
    assert config.to_yaml() == (FIXTURE / "config.yaml").read_text()


@pytest.mark.parametrize("name", ["signals.npz", "subset_prune4rel_0.3.npy"])
def test_fixture_files_are_present(name):
    assert (FIXTURE / name).is_file()
