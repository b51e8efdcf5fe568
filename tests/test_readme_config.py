"""The README's YAML example for ``run --config`` parses and passes the run checks;
``run --print-config`` prints a configuration that reads back unchanged; ``python -m prune4rel``
is the command."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner

from prune4rel.cli import main
from prune4rel.pipeline import RunConfig, check_config

ROOT = Path(__file__).resolve().parents[1]


def readme_yaml() -> str:
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert len(blocks) == 1, "the README has one YAML config example"
    return blocks[0]


def test_the_readme_yaml_is_a_valid_run_config(tmp_path):
    raw = yaml.safe_load(readme_yaml())
    config = RunConfig.from_dict(raw)
    check_config(config)
    assert config.data.dataset == "cifar10n" and config.data.train_subset == 10000
    assert config.selection.methods == ("prune4rel", "prune4rel_agree", "small_loss", "uniform")
    assert config.selection.fractions == (0.2, 0.4, 1.0)
    assert config.selection.params == {"prune4rel": {"tau": 0.975, "eta": 1.0}}
    assert (config.train.learner, config.train.epochs, config.train.params["lr"]) == ("sop+", 15, 0.1)
    path = tmp_path / "run.yaml"
    path.write_text(readme_yaml())
    assert RunConfig.from_yaml(path) == config


def test_print_config_applies_the_flags_and_reads_back(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(readme_yaml())
    args = ["run", "--config", str(path), "--epochs", "3", "--method", "prune4rel,uniform", "--set",
            "train.params.lr=0.05", "--print-config"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    printed = RunConfig.from_dict(yaml.safe_load(res.output))
    assert printed.train.epochs == 3 and printed.selection.methods == ("prune4rel", "uniform")
    assert printed.train.params["lr"] == 0.05 and printed.data.label_set == "worst"
    assert printed.to_yaml() == res.output
    assert not any(tmp_path.glob("*/config.yaml"))  # nothing ran


def test_print_config_refuses_parameters_the_run_would_refuse():
    args = ["run", "--method", "prune4rel", "--set", "selection.params={prune4rel: {tau: 2}}",
            "--print-config"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2
    assert "`selection.params.prune4rel.tau` must be a number in [0, 1), got 2" in res.output


def test_run_without_out_or_print_config_is_a_usage_error():
    res = CliRunner().invoke(main, ["run", "--dataset", "digits"])
    assert res.exit_code == 2 and "--out" in res.output


def test_python_dash_m_runs_the_command():
    res = subprocess.run([sys.executable, "-m", "prune4rel", "methods", "uniform"],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("uniform:")
