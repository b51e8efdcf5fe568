"""The command-line interface, end to end on small files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import softmax

from prune4rel import Signals
from prune4rel.cli import main
from prune4rel.metrics import index_digest
from prune4rel.neighbors import calibrate_tau
from prune4rel.selection import (
    Prune4ReL,
    SelectionFileError,
    available_selectors,
    get_selector,
    read_selection,
    write_selection,
)


def write_signals(path, n=60, seed=0):
    rng = np.random.default_rng(seed)
    sig = Signals(
        labels=rng.integers(0, 3, n),
        probs=softmax(rng.normal(size=(n, 3))),
        embeddings=rng.normal(size=(n, 3)),
        clean_labels=rng.integers(0, 3, n),
    )
    sig.save(path)
    return sig


def test_select_writes_indices_and_summary(tmp_path):
    sig = write_signals(tmp_path / "s.npz")
    out = tmp_path / "sub" / "subset.npy"
    res = CliRunner().invoke(
        main,
        [
            "select",
            str(tmp_path / "s.npz"),
            "--fraction",
            "0.25",
            "--tau",
            "0.9",
            "--objective",
            "full",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert res.exit_code == 0, res.output
    idx = np.load(out)
    expected = Prune4ReL(tau=0.9, objective="full").select(sig, 0.25).indices
    np.testing.assert_array_equal(idx, expected)
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["budget"] == 15 and summary["method"] == "prune4rel"
    assert summary["subset_noise_rate"] == np.mean(sig.labels[idx] != sig.clean_labels[idx])


def test_select_other_method_and_count(tmp_path):
    write_signals(tmp_path / "s.npz")
    out = tmp_path / "u.npy"
    res = CliRunner().invoke(
        main,
        [
            "select",
            str(tmp_path / "s.npz"),
            "--count",
            "7",
            "--method",
            "uniform",
            "--seed",
            "3",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert np.load(out).shape == (7,)


def test_select_with_a_target_degree(tmp_path):
    sig = write_signals(tmp_path / "s.npz", n=200)
    out = tmp_path / "d.npy"
    args = ["select", str(tmp_path / "s.npz"), "--fraction", "0.3", "--method", "prune4rel_agree"]
    res = CliRunner().invoke(main, [*args, "--param", "target_degree=12", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    tau = calibrate_tau(sig.embeddings, 12.0)
    expected = get_selector("prune4rel_agree", tau=tau).select(sig, 0.3).indices
    np.testing.assert_array_equal(np.load(out), expected)
    assert json.loads(out.with_suffix(".json").read_text())["params"]["target_degree"] == 12.0


def test_select_errors_are_clear_and_write_nothing(tmp_path):
    write_signals(tmp_path / "s.npz")
    out = tmp_path / "x.npy"
    cases = [
        (["--fraction", "1.5"], "'1.5' is not a fraction in (0, 1]"),
        (["--fraction", "7"], "to keep 7 examples use --count 7"),
        (["--fraction", "0"], "'0' is not a fraction in (0, 1]"),
        (["--count", "61"], "61 is more than the 60 examples"),
        (["--fraction", "0.2", "--count", "3"], "--fraction F (in (0, 1]) or --count N, one of the two"),
        (["--fraction", "0.2", "--method", "uniform", "--tau", "0.9"], "parameters that 'uniform' takes"),
        (["--fraction", "0.2", "--method", "nope"], "unknown method"),
        (["--fraction", "0.2", "--param", "tau"], "KEY=VALUE"),
    ]
    for extra, message in cases:
        res = CliRunner().invoke(main, ["select", str(tmp_path / "s.npz"), *extra, "--out", str(out)])
        assert res.exit_code != 0 and message in res.output, (extra, res.output)
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04garbage")
    res = CliRunner().invoke(
        main, ["select", str(tmp_path / "bad.npz"), "--fraction", "0.2", "--out", str(out)]
    )
    assert res.exit_code == 2 and "corrupt" in res.output
    assert not out.exists()


def test_methods_lists_every_selector():
    res = CliRunner().invoke(main, ["methods"])
    assert res.exit_code == 0
    for name in available_selectors():
        assert f"\n{name}: " in "\n" + res.output


def test_methods_shows_each_default_and_range():
    res = CliRunner().invoke(main, ["methods", "prune4rel_agree", "uniform"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].startswith("prune4rel_agree: Prune4ReL with label-agreement confidence")
    table = {line.split()[0]: line for line in lines if line.startswith("    ") and line.strip()}
    assert table["tau"].split()[1:] == ["0.975", "a", "number", "in", "[0,", "1)"]
    assert "'given_prob'" in table["fill"] and "one of 'given_prob', 'index'" in table["fill"]
    assert table["seed"].split()[1] == "0" and "an integer >= 0" in table["seed"]
    assert all(len(line) <= 80 for line in lines)  # long ranges wrap to the terminal
    assert "uniform: Uniformly random subset" in res.output and "forgetting" not in res.output
    bad = CliRunner().invoke(main, ["methods", "nope"])
    assert bad.exit_code == 2 and "unknown method 'nope'" in bad.output


def test_select_sets_progress_through_the_parameters(tmp_path):
    write_signals(tmp_path / "s.npz")
    base = ["select", str(tmp_path / "s.npz"), "--fraction", "0.2"]
    for extra, shown in (([], True), (["--quiet"], False), (["--param", "progress=false"], False)):
        out = tmp_path / f"p{len(extra)}.npy"
        res = CliRunner().invoke(main, [*base, "--method", "kcenter", "--out", str(out), *extra])
        assert res.exit_code == 0, res.output
        assert json.loads(out.with_suffix(".json").read_text())["params"]["progress"] is shown
    res = CliRunner().invoke(main, [*base, "--method", "uniform", "--out", str(tmp_path / "u.npy")])
    assert res.exit_code == 0 and "progress" not in json.loads((tmp_path / "u.json").read_text())["params"]


def test_select_bad_parameters_are_clear_errors(tmp_path):
    write_signals(tmp_path / "s.npz")
    out = tmp_path / "x.npy"
    cases = [
        (["--param", "balance=maybe"], "`balance` must be True or False, got 'maybe'"),
        (["--param", "progress=maybe"], "`progress` must be True or False"),
        (["--param", "max_edges=-5"], "`max_edges` must be an integer >= 1, got -5"),
        (["--param", "tau="], "`tau` has no value in 'tau=': write tau=null for None"),
        (["--param", "tau=null"], "`tau` must be a number in [0, 1), got None"),
        (["--param", "tau=abc"], "`tau` must be a number in [0, 1), got 'abc'"),
        (["--param", "tau=[0.9]"], "`tau` must be a number in [0, 1), got [0.9]"),
        (["--param", "index_params={foo: 1}"], "`index_params.foo` must be a known parameter name"),
        (["--method", "uniform", "--param", "seed=abc"], "`seed` must be an integer >= 0, got 'abc'"),
        (["--method", "uniform", "--param", "seed=1.5"], "`seed` must be an integer >= 0, got 1.5"),
    ]
    for extra, message in cases:
        args = ["select", str(tmp_path / "s.npz"), "--fraction", "0.2", "--out", str(out), *extra]
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2 and isinstance(res.exception, SystemExit), extra  # no traceback
        assert message in res.output, (extra, res.output)
    assert not out.exists()
    ok = ["select", str(tmp_path / "s.npz"), "--fraction", "0.2", "--out", str(out), "--quiet"]
    assert CliRunner().invoke(main, [*ok, "--param", "k=None", "--param", "balance=no"]).exit_code == 0
    assert json.loads(out.with_suffix(".json").read_text())["params"]["balance"] is False


def test_select_refuses_an_output_that_is_one_of_its_inputs(tmp_path):
    write_signals(tmp_path / "s.npz")
    np.save(tmp_path / "emb.npy", np.zeros((60, 2)))
    inputs = {p: p.read_bytes() for p in (tmp_path / "s.npz", tmp_path / "emb.npy")}
    (tmp_path / "link.npz").symlink_to(tmp_path / "s.npz")
    os.link(tmp_path / "s.npz", tmp_path / "hard.npz")
    cases = [
        (["s.npz", "--out", "s.npz"], "--out"),
        (["s.npz", "--out", "./sub/../s.npz"], "--out"),
        (["s.npz", "--out", "link.npz"], "--out"),
        (["s.npz", "--out", "hard.npz"], "--out"),
        (["s.npz", "--out", "emb.npy", "--embeddings", "emb.npy"], "--out"),
        (["s.npz", "--out", "s.idx"], None),  # summary s.json: not an input
    ]
    (tmp_path / "sub").mkdir()
    for args, flag in cases:
        args = [str(tmp_path / a) if not a.startswith("-") else a for a in args]
        res = CliRunner().invoke(main, ["select", *args, "--method", "uniform", "--fraction", "0.5"])
        if flag is None:
            assert res.exit_code == 0, res.output
        else:
            assert res.exit_code == 2 and "would overwrite that input" in res.output, res.output
    for path, data in inputs.items():
        assert path.read_bytes() == data
    # the summary (OUT with suffix .json) may not be an input either
    write_signals(tmp_path / "sig.json")
    res = CliRunner().invoke(main, ["select", str(tmp_path / "sig.json"), "--method", "uniform",
                                    "--fraction", "0.5", "--out", str(tmp_path / "sig.npy")])
    assert res.exit_code == 2 and "--out summary" in res.output and "SIGNALS" in res.output
    res = CliRunner().invoke(main, ["select", str(tmp_path / "s.npz"), "--method", "uniform",
                                    "--fraction", "0.5", "--out", str(tmp_path / "x.json")])
    assert res.exit_code == 2 and "give OUT another suffix" in res.output


def test_select_summary_names_the_index_digest_and_read_selection_checks_it(tmp_path):
    write_signals(tmp_path / "s.npz")
    out = tmp_path / "u.npy"
    res = CliRunner().invoke(main, ["select", str(tmp_path / "s.npz"), "--method", "uniform",
                                    "--fraction", "0.5", "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["index_file"] == "u.npy" and summary["indices"] == index_digest(np.load(out))
    for path in (out, out.with_suffix(".json")):
        got = read_selection(path)
        np.testing.assert_array_equal(got.indices, np.load(out))
        assert got.method == "uniform" and len(got) == 30
    np.save(out, np.arange(30))  # another writer's index file
    with pytest.raises(SelectionFileError, match=r"u\.npy \(index digest \w+\) does not match its summary"):
        read_selection(out)


def test_concurrent_writers_of_one_selection_leave_a_consistent_pair(tmp_path, monkeypatch):
    # widen the window between the index file and its summary: without the lock, the two
    # writers interleave (a's indices, b's summary) every time
    import prune4rel.selection.files as files

    slow = files.atomic_save_npy

    def save_then_pause(path, array):
        slow(path, array)
        time.sleep(0.2)

    monkeypatch.setattr(files, "atomic_save_npy", save_then_pause)
    out = tmp_path / "sel.npy"
    writers = [
        threading.Thread(target=write_selection, args=(out, np.arange(k, k + 5), {"who": k}))
        for k in (0, 100)
    ]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    got = read_selection(out)  # raises when the pair is mixed
    who = json.loads(out.with_suffix(".json").read_text())["who"]
    np.testing.assert_array_equal(got.indices, np.arange(who, who + 5))


def test_two_concurrent_select_processes_leave_a_consistent_pair(tmp_path):
    write_signals(tmp_path / "s.npz", n=2000)
    out = tmp_path / "sel.npy"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    cmds = [
        [sys.executable, "-c", "from prune4rel.cli import main; main()", "select", str(tmp_path / "s.npz"),
         "--method", "uniform", "--seed", str(seed), "--fraction", "0.5", "--out", str(out)]
        for seed in (1, 2)
    ]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for cmd in cmds]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    got = read_selection(out)
    assert json.loads(out.with_suffix(".json").read_text())["params"]["seed"] in (1, 2)
    assert len(got) == 1000


def test_convert_signals_refuses_to_overwrite_its_input(tmp_path):
    plain = tmp_path / "plain.npz"
    rng = np.random.default_rng(0)
    np.savez(plain, labels=rng.integers(0, 3, 20), probs=softmax(rng.normal(size=(20, 3))),
             embeddings=rng.normal(size=(20, 2)))
    before = plain.read_bytes()
    res = CliRunner().invoke(main, ["convert-signals", str(plain), str(tmp_path / "." / "plain.npz")])
    assert res.exit_code == 2 and "would overwrite that input" in res.output
    assert plain.read_bytes() == before
