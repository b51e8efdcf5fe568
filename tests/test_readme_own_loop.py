"""The README section "Use your own model and loop" runs as written, block after block."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import SHARED_DATA

from prune4rel import Signals
from prune4rel.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Use your own model and loop"


def section_blocks() -> list[tuple[str, str]]:
    text = README.read_text()
    start = text.index(SECTION)
    end = text.index("\n## ", start + len(SECTION))
    return re.findall(r"```(python|bash)\n(.*?)```", text[start:end], flags=re.S)


def cli_lines(code: str) -> list[list[str]]:
    return [shlex.split(line) for line in code.replace("\\\n", " ").splitlines() if line.strip()]


def test_the_section_has_python_and_cli_examples():
    langs = [lang for lang, _ in section_blocks()]
    assert langs.count("python") == 5 and langs.count("bash") == 1


@pytest.mark.slow
def test_readme_examples_run(tmp_path, monkeypatch):
    pytest.importorskip("lightning.pytorch", reason="needs the [lightning] extra")
    pytest.importorskip("datasets", reason="needs the [hf] extra")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for lang, code in section_blocks():
        if lang == "python":
            exec(compile(code, str(README), "exec"), namespace)
            continue
        for args in cli_lines(code):
            assert args[0] == "prune4rel"
            if any("../shared/data" in a for a in args):
                if not SHARED_DATA.is_dir():
                    continue  # checked by test_signals_convert when the data is there
                args = [a.replace("../shared/data", str(SHARED_DATA)) for a in args]
            res = CliRunner().invoke(main, args[1:])
            assert res.exit_code == 0, (args, res.output)
    sig = namespace["signals"]
    assert sig.n == 200 and sig.losses.shape == (3, 200)
    assert sig.meta["producer"] == "prune4rel.warmup.lightning"
    assert namespace["no_histories"].n == 200 and not namespace["no_histories"].has("losses")
    np.testing.assert_array_equal(namespace["same"].probs, sig.probs)
    selection = namespace["selection"]
    assert len(namespace["subset"]) == len(selection) == 60
    assert len(namespace["hf_subset"]) == 60
    assert sorted(i for i in namespace["loader"].sampler) == sorted(selection.indices.tolist())
    assert (tmp_path / "subset.csv").read_text().splitlines()[0] == "rank,index,id,score"
    assert np.load(tmp_path / "subset.npy").shape == (60,)
    assert Signals.load(tmp_path / "converted.npz").n == 200
    assert (tmp_path / "subset.parquet").is_file()
