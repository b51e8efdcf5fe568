"""The input contract beyond single bad values: what fractions mean in the API and the CLI,
embeddings of any magnitude, boolean spellings, exit codes and ``--debug`` in a real process.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import softmax

import prune4rel
from prune4rel import Signals
from prune4rel.cli import main
from prune4rel.cli.input import user_error_message
from prune4rel.config import RunConfig
from prune4rel.neighbors import build_graph, unit_rows
from prune4rel.selection import get_selector

SRC = Path(__file__).resolve().parents[1] / "src"


def clustered(n: int = 90, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centres = rng.normal(size=(3, 6)) * 3
    return {
        "labels": labels,
        "probs": softmax(rng.normal(size=(n, 3)) + 2 * np.eye(3)[labels]),
        "embeddings": centres[labels] + rng.normal(size=(n, 6)),
    }


def cli_select(tmp_path: Path, *args: str) -> np.ndarray:
    out = tmp_path / f"sel{len(list(tmp_path.glob('sel*.npy')))}.npy"
    res = CliRunner().invoke(main, ["select", str(tmp_path / "s.npz"), "--out", str(out), "--quiet", *args])
    assert res.exit_code == 0, res.output
    return np.load(out)


# ------------------------------------------------------------------ fractions and counts
def test_a_float_is_a_fraction_and_an_int_a_count_in_the_api():
    a = clustered()
    n = a["labels"].size
    for budget, size in [(1, 1), (1.0, n), (7, 7), (np.int64(7), 7), (0.5, n // 2), (np.float64(1.0), n)]:
        assert prune4rel.select(**a, fraction=budget, method="uniform").shape == (size,), budget
    with pytest.raises(ValueError, match="for 3 examples pass the int 3"):
        prune4rel.select(**a, fraction=3.0)


def test_the_cli_spells_the_same_meanings_as_fraction_and_count(tmp_path):
    a = clustered()
    n = a["labels"].size
    Signals(**a).save(tmp_path / "s.npz")
    assert cli_select(tmp_path, "--fraction", "1").shape == (n,)  # a fraction, whatever its spelling
    assert cli_select(tmp_path, "--fraction", "1.0").shape == (n,)
    assert cli_select(tmp_path, "--count", "1").shape == (1,)
    for args, budget in [(("--fraction", "0.3"), 0.3), (("--count", "7"), 7)]:
        for method in ("prune4rel", "uniform"):
            got = cli_select(tmp_path, *args, "--method", method)
            np.testing.assert_array_equal(got, prune4rel.select(**a, fraction=budget, method=method))


# ------------------------------------------------------------------ magnitudes
HUGE_AND_TINY = [1e160, 1e-160, 2.0**-40]


@pytest.mark.parametrize("method", ["prune4rel", "prune4rel_agree", "kcenter", "moderate", "uniform"])
def test_selections_do_not_depend_on_the_magnitude_of_the_embeddings(method):
    a = clustered()
    reference = get_selector(method).select(Signals(**a), 0.3).indices
    emb = a["embeddings"]
    for scaled in [emb * f for f in HUGE_AND_TINY] + [(emb * 1e30).astype(np.float32)]:
        signals = Signals(**{**a, "embeddings": scaled})
        np.testing.assert_array_equal(signals.embeddings, scaled)  # kept as given
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = get_selector(method).select(signals, 0.3).indices
        np.testing.assert_array_equal(got, reference)
        if method not in ("prune4rel", "prune4rel_agree"):  # these read unit rows, safe as they are
            assert [str(w.message).split(":")[0] for w in caught] == ["`embeddings` have largest magnitude "
                                                                     f"{np.abs(scaled).max():.3g}"]


def test_safe_scale_is_exact_and_only_for_implausible_magnitudes():
    a = clustered()
    for factor in (1.0, 2.0**-28, 2.0**28):
        signals = Signals(**{**a, "embeddings": a["embeddings"] * factor})
        assert signals.with_safe_scale() is signals
    signals = Signals(**{**a, "embeddings": a["embeddings"] * 2.0**600})
    with pytest.warns(UserWarning, match=r"multiplied by 2\*\*-60[0-9]"):
        safe = signals.with_safe_scale()
    assert 0.5 <= np.abs(safe.embeddings).max() < 1.0
    ratio = safe.embeddings / a["embeddings"]
    assert np.all(ratio == ratio.flat[0]) and np.log2(ratio.flat[0]).is_integer()


def test_grand_at_any_magnitude():
    from prune4rel.selection.scores import el2n_scores, grand_scores

    a = clustered()
    el2n = el2n_scores(a["probs"], a["labels"])
    norms = np.linalg.norm(a["embeddings"], axis=1)
    for factor in (1e160, 1e300):  # sqrt(||h||^2 + 1) = ||h|| there
        got = grand_scores(a["probs"], a["labels"], a["embeddings"] * factor) / factor
        np.testing.assert_allclose(got, el2n * norms, rtol=1e-12)
    tiny = grand_scores(a["probs"], a["labels"], a["embeddings"] * 1e-160)
    np.testing.assert_allclose(tiny, el2n, rtol=1e-15)
    ordinary = grand_scores(a["probs"], a["labels"], a["embeddings"])
    np.testing.assert_allclose(ordinary, el2n * np.sqrt(norms**2 + 1))


def test_unit_rows_and_graphs_at_any_finite_magnitude():
    emb = clustered()["embeddings"]
    unit, norms = unit_rows(emb)
    reference = build_graph(emb, 0.9)
    for factor in (1e300, 1e160, 1e-160, 1e-300):
        got_unit, got_norms = unit_rows(emb * factor)
        np.testing.assert_allclose(got_unit, unit, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(got_norms / factor, norms, rtol=1e-12)
        graph = build_graph(emb * factor, 0.9)
        np.testing.assert_array_equal(graph.indptr, reference.indptr)
        np.testing.assert_array_equal(graph.indices, reference.indices)
    zero = unit_rows(np.zeros((2, 3)))
    assert not zero[0].any() and not zero[1].any()


# ------------------------------------------------------------------ booleans and YAML values
@pytest.mark.parametrize(("spelling", "value"), [
    ("true", True), ("false", False), ("yes", True), ("no", False), ("on", True), ("off", False),
    ("True", True), ("NO", False),
])
def test_boolean_spellings_of_the_cli(tmp_path, spelling, value):
    Signals(**clustered()).save(tmp_path / "s.npz")
    out = tmp_path / "o.npy"
    args = ["select", str(tmp_path / "s.npz"), "--fraction", "0.2", "--out", str(out), "--quiet"]
    res = CliRunner().invoke(main, [*args, "--param", f"balance={spelling}"])
    assert res.exit_code == 0, res.output
    assert json.loads(out.with_suffix(".json").read_text())["params"]["balance"] is value


def test_exponent_notation_is_a_number_on_the_command_line_and_in_yaml(tmp_path):
    Signals(**clustered()).save(tmp_path / "s.npz")
    out = tmp_path / "o.npy"
    args = ["select", str(tmp_path / "s.npz"), "--fraction", "0.2", "--out", str(out), "--quiet"]
    res = CliRunner().invoke(main, [*args, "--param", "eta=5e-1", "--param", "max_edges=4e8"])
    assert res.exit_code == 0, res.output
    params = json.loads(out.with_suffix(".json").read_text())["params"]
    assert params["eta"] == 0.5 and params["max_edges"] == 400_000_000
    (tmp_path / "run.yaml").write_text("train: {params: {lr: 1e-3, nesterov: no}}\n")
    assert RunConfig.from_yaml(tmp_path / "run.yaml").train.params == {"lr": 0.001, "nesterov": False}


# ------------------------------------------------------------------ what counts as a user's mistake
def test_user_error_messages():
    missing = ModuleNotFoundError("No module named 'faiss'", name="faiss")
    assert user_error_message(missing) == (
        "No module named 'faiss': install the optional dependency with `pip install faiss-cpu`"
    )
    assert user_error_message(ImportError("cannot import name 'x'", name="prune4rel.selection")) is None
    assert user_error_message(TypeError("a bug")) is None and user_error_message(KeyError("a bug")) is None
    denied = PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/data/x.npy")
    assert user_error_message(denied) == (
        f"{os.strerror(errno.EACCES)}: /data/x.npy "
        "(check the permissions of the path, or choose another location)"
    )
    assert user_error_message(ValueError("one\n  two")) == "one two"  # one line


def test_a_bug_is_not_dressed_up_as_a_user_error(tmp_path, monkeypatch):
    Signals(**clustered()).save(tmp_path / "s.npz")
    monkeypatch.setattr(Signals, "load", classmethod(lambda cls, path: {}["a bug"]))
    res = CliRunner().invoke(main, ["select", str(tmp_path / "s.npz"), "--fraction", "0.2", "--out", "o.npy"])
    assert res.exit_code == 1 and isinstance(res.exception, KeyError)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file modes")
def test_a_directory_without_write_permission(tmp_path):
    Signals(**clustered()).save(tmp_path / "s.npz")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    res = CliRunner().invoke(main, ["select", str(tmp_path / "s.npz"), "--fraction", "0.2",
                                    "--out", str(locked / "o.npy"), "--quiet"])
    assert res.exit_code == 2 and f"cannot write in {locked}" in res.output


def _prune4rel(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh interpreter, as a user runs it."""
    code = "from prune4rel.cli import main; main()"
    full_env = {**os.environ, "PYTHONPATH": str(SRC), **env}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=full_env,
                          timeout=300, check=False)


def test_a_real_process_prints_one_error_line_and_debug_the_traceback(tmp_path):
    Signals(**clustered()).save(tmp_path / "s.npz")
    bad = ["select", str(tmp_path / "s.npz"), "--fraction", "0.2", "--param", "tau=abc", "--out", "o.npy"]
    plain = _prune4rel(*bad)
    assert plain.returncode == 2 and plain.stdout == ""
    assert plain.stderr == "Error: `tau` must be a number in [0, 1), got 'abc'\n"
    for debug in (_prune4rel("--debug", *bad), _prune4rel(*bad, PRUNE4REL_DEBUG="1")):
        assert debug.returncode == 1
        assert "Traceback (most recent call last)" in debug.stderr and "ParameterError: `tau`" in debug.stderr
