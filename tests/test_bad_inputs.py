"""Bad inputs, one row each: how it is entered and a fragment of the clear error it must give.

A CLI row is a command line; it must exit with code 2, print an ``Error:`` line holding the
fragment, raise no exception inside the command (no traceback) and write no output file. An
API row is a call; it must raise a ``ValueError`` (``ParameterError`` and
``SignalsFileError`` are ones) whose message holds the fragment. :func:`outcome` sorts every
row into clear / traceback / silent (accepted) / unclear, so a failure says which it was.

Add a row for every new bad input found. Placeholders in CLI arguments and fragments
(``{good}``, ``{out}``, ...) are the files of the :func:`files` fixture.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import softmax
from test_report import fake_result

import prune4rel
from prune4rel import Signals
from prune4rel._io import atomic_write_json
from prune4rel.cli import main
from prune4rel.config import DataConfig, RunConfig, SelectionConfig
from prune4rel.learners import get_learner
from prune4rel.selection import get_selector

N = 60


@dataclass(frozen=True)
class Row:
    """One bad input: ``args`` (a command line) or ``call`` (Python), and the error fragment."""

    id: str
    fragment: str
    args: tuple[str, ...] = ()
    call: Callable[[dict[str, Path]], Any] | None = None
    #: "read_only": every new file or directory fails with EROFS, as on a read-only mount
    patch: str | None = None
    #: an optional module the row is about; skipped where it is installed
    absent: str | None = None


def cli(id: str, fragment: str, *args: str, patch: str | None = None, absent: str | None = None) -> Row:
    return Row(id, fragment, args=args, patch=patch, absent=absent)


def api(id: str, fragment: str, call: Callable[[dict[str, Path]], Any]) -> Row:
    return Row(id, fragment, call=call)


def arrays(n: int = N, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "labels": rng.integers(0, 3, n),
        "probs": softmax(rng.normal(size=(n, 3))),
        "embeddings": rng.normal(size=(n, 4)),
    }


def with_(**changes: Any) -> Signals:
    return Signals(**{**arrays(), **changes})


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad_inputs")
    names = {
        "good": "good.npz", "npy": "labels.npy", "emb": "emb.npy", "emb_rows": "emb_rows.npy",
        "emb_1d": "emb_1d.npy", "emb_nan": "emb_nan.npy", "emb_str": "emb_str.npy", "emb_obj": "emb_obj.npy",
        "trunc": "trunc.npy", "noemb": "noemb.npz", "random": "random.bin", "empty": "empty.npz",
        "plain": "plain.npz", "corrupt": "corrupt.npz", "v99": "v99.npz", "badheader": "badheader.npz",
        "list_yaml": "list.yaml", "bad_yaml": "bad.yaml", "unknown_yaml": "unknown.yaml",
        "empty_yaml": "empty_epochs.yaml", "binary_yaml": "binary.yaml", "no_results": "no_results",
    }
    f = {key: d / name for key, name in names.items()}
    f["dir"] = d
    f["out"] = d / "out" / "subset.npy"
    f["run"] = d / "run"
    good = arrays()
    Signals(**good).save(f["good"])
    np.save(f["npy"], good["labels"])
    np.save(f["emb"], good["embeddings"])
    np.save(f["emb_rows"], good["embeddings"][:50])
    np.save(f["emb_1d"], good["embeddings"][:, 0])
    np.save(f["emb_nan"], np.where(np.arange(N)[:, None] == 7, np.nan, good["embeddings"]))
    np.save(f["emb_str"], np.array([["a"] * 4] * N))
    np.save(f["emb_obj"], np.array([[{}] * 4] * N, dtype=object), allow_pickle=True)
    raw = f["emb"].read_bytes()
    f["trunc"].write_bytes(raw[: len(raw) // 2])
    header = {"format": "prune4rel.signals", "schema_version": 1, "n": N, "num_classes": 3, "dim": 4,
              "arrays": {"labels": [[N], "int64"], "probs": [[N, 3], "float64"]}, "meta": {}}
    np.savez(f["noemb"], labels=good["labels"], probs=good["probs"], __schema__=_header(header))
    np.savez(f["v99"], **good, __schema__=_header({**header, "schema_version": 99}))
    np.savez(f["badheader"], **good, __schema__=_header([1, 2]))
    f["random"].write_bytes(np.random.default_rng(1).bytes(1000))
    f["empty"].write_bytes(b"")
    np.savez(f["plain"], y=good["labels"], p=good["probs"])
    f["corrupt"].write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    f["list_yaml"].write_text("- 1\n- 2\n")
    f["bad_yaml"].write_text("epochs: [1, 2\n")
    f["unknown_yaml"].write_text("epochz: 3\n")
    f["empty_yaml"].write_text("epochs:\n")
    f["binary_yaml"].write_bytes(b"\xff\xfe\x00bad")
    f["no_results"].mkdir()
    f["results"] = d / "results"
    atomic_write_json(f["results"] / "result_uniform_0.2.json", fake_result("uniform", 0.2, 0, 0.7))
    return f


def _header(value: Any) -> np.ndarray:
    return np.frombuffer(json.dumps(value).encode(), dtype=np.uint8)


SEL = ("select", "{good}", "--out", "{out}", "--quiet")
SEL_F = (*SEL, "--fraction", "0.3")
RUN = ("run", "--out", "{run}", "--quiet")

CLI_ROWS = [
    # ----------------------------------------------------------- select: the signals file
    cli("signals-without-embeddings", "required array(s) ['embeddings'] missing",
        "select", "{noemb}", "--fraction", "0.3", "--out", "{out}"),
    cli("npy-as-signals", "is a single .npy array, not a signals file",
        "select", "{npy}", "--fraction", "0.3", "--out", "{out}"),
    cli("random-bytes-as-signals", "is not a signals file: not an .npz or .npy file",
        "select", "{random}", "--fraction", "0.3", "--out", "{out}"),
    cli("empty-signals-file", "the file is empty", "select", "{empty}", "--fraction", "0.3", "--out",
        "{out}"),
    cli("plain-npz-as-signals", "prune4rel convert-signals", "select", "{plain}", "--fraction", "0.3",
        "--out", "{out}"),
    cli("corrupt-signals-file", "corrupt or truncated", "select", "{corrupt}", "--fraction", "0.3",
        "--out", "{out}"),
    cli("unknown-schema-version", "schema version 99 is not supported", "select", "{v99}",
        "--fraction", "0.3", "--out", "{out}"),
    cli("malformed-header", "is not a prune4rel header", "select", "{badheader}", "--fraction", "0.3",
        "--out", "{out}"),
    cli("missing-signals-file", "signals file not found", "select", "{dir}/absent.npz", "--fraction", "0.3",
        "--out", "{out}"),
    cli("directory-as-signals", "is a directory", "select", "{dir}", "--fraction", "0.3", "--out", "{out}"),
    # ----------------------------------------------------------- select: the subset size
    cli("fraction-nan", "'nan' is not a fraction in (0, 1]", *SEL, "--fraction", "nan"),
    cli("fraction-inf", "'inf' is not a fraction in (0, 1]", *SEL, "--fraction", "inf"),
    cli("fraction-zero", "'0' is not a fraction in (0, 1]", *SEL, "--fraction", "0"),
    cli("fraction-negative", "'-0.2' is not a fraction", *SEL, "--fraction", "-0.2"),
    cli("fraction-1.5", "'1.5' is not a fraction in (0, 1]", *SEL, "--fraction", "1.5"),
    cli("fraction-3.0-is-no-count", "to keep 3 examples use --count 3", *SEL, "--fraction", "3.0"),
    cli("fraction-text", "'abc' is not a number", *SEL, "--fraction", "abc"),
    cli("count-zero", "0 is not in the range x>=1", *SEL, "--count", "0"),
    cli("count-above-n", "61 is more than the 60 examples", *SEL, "--count", "61"),
    cli("count-not-integer", "'2.5' is not a valid integer", *SEL, "--count", "2.5"),
    cli("no-size", "--fraction F (in (0, 1]) or --count N, one of the two", *SEL),
    cli("fraction-and-count", "one of the two", *SEL, "--fraction", "0.3", "--count", "5"),
    # ----------------------------------------------------------- select: parameters
    cli("param-empty-value", "`tau` has no value in 'tau=': write tau=null", *SEL_F, "--param", "tau="),
    cli("param-list", "`tau` must be a number in [0, 1), got [0.9]", *SEL_F, "--param", "tau=[0.9]"),
    cli("param-text", "`tau` must be a number in [0, 1), got 'abc'", *SEL_F, "--param", "tau=abc"),
    cli("param-null", "`tau` must be a number in [0, 1), got None", *SEL_F, "--param", "tau=null"),
    cli("param-bad-yaml", "`tau`: cannot read '[0.9' as a YAML value", *SEL_F, "--param", "tau=[0.9"),
    cli("param-no-equals", "expected KEY=VALUE, got 'tau'", *SEL_F, "--param", "tau"),
    cli("param-no-key", "expected KEY=VALUE, got '=0.9'", *SEL_F, "--param", "=0.9"),
    cli("param-twice", "`tau` is given twice", *SEL_F, "--param", "tau=0.9", "--param", "tau=0.8"),
    cli("option-and-param", "`tau` is given twice (--tau and --param tau=...)", *SEL_F, "--tau", "0.9",
        "--param", "tau=0.8"),
    cli("unknown-param", "`foo` must be one of the parameters that 'prune4rel' takes", *SEL_F, "--param",
        "foo=1"),
    cli("param-of-another-method", "parameters that 'uniform' takes", *SEL_F, "--method", "uniform",
        "--tau", "0.9"),
    cli("uniform-seed-text", "`seed` must be an integer >= 0, got 'abc'", *SEL_F, "--method", "uniform",
        "--param", "seed=abc"),
    cli("uniform-seed-float", "`seed` must be an integer >= 0, got 1.5", *SEL_F, "--method", "uniform",
        "--param", "seed=1.5"),
    cli("uniform-seed-negative", "`seed` must be an integer >= 0, got -1", *SEL_F, "--method", "uniform",
        "--seed", "-1"),
    cli("index-params-unknown", "`index_params.foo` must be a known parameter name", *SEL_F,
        "--param", "index_params={foo: 1}"),
    cli("index-params-list", "`index_params` must be None or a mapping", *SEL_F, "--param",
        "index_params=[1]"),
    cli("balance-maybe", "`balance` must be True or False, got 'maybe'", *SEL_F, "--param", "balance=maybe"),
    cli("balance-one", "`balance` must be True or False, got 1", *SEL_F, "--param", "balance=1"),
    cli("balance-null", "`balance` must be True or False, got None", *SEL_F, "--param", "balance=null"),
    cli("progress-maybe", "`progress` must be True or False, got 'maybe'", *SEL_F, "--method", "kcenter",
        "--param", "progress=maybe"),
    cli("max-edges-negative", "`max_edges` must be an integer >= 1, got -5", *SEL_F, "--param",
        "max_edges=-5"),
    cli("k-negative", "`k` must be an integer >= 0 or None, got -1", *SEL_F, "--k", "-1"),
    cli("k-with-dense", "`k` must be None with backend='dense'", *SEL_F, "--k", "5", "--backend", "dense"),
    cli("tau-one", "`tau` must be a number in [0, 1), got 1.0", *SEL_F, "--tau", "1"),
    cli("eta-zero", "`eta` must be a number > 0, got 0.0", *SEL_F, "--eta", "0"),
    cli("device-unknown", "`device`", *SEL_F, "--device", "gpu"),
    cli("method-unknown", "unknown method 'nope'", *SEL_F, "--method", "nope"),
    cli("objective-unknown", "'fast' is not one of 'published', 'full'", *SEL_F, "--objective", "fast"),
    # ----------------------------------------------------------- select: --embeddings, --ray
    cli("embeddings-npz", "is an .npz archive, not a single .npy array", *SEL_F, "--embeddings", "{good}"),
    cli("embeddings-truncated", "is truncated: its header says shape (60, 4) float64", *SEL_F,
        "--embeddings", "{trunc}"),
    cli("embeddings-rows", "has shape (50, 4); expected (n, d) with n = 60", *SEL_F, "--embeddings",
        "{emb_rows}"),
    cli("embeddings-1d", "has shape (60,); expected (n, d)", *SEL_F, "--embeddings", "{emb_1d}"),
    cli("embeddings-nan", "`embeddings` contains 4 NaN or infinite value(s)", *SEL_F, "--embeddings",
        "{emb_nan}"),
    cli("embeddings-strings", "`embeddings` must be a numeric array, got dtype <U1", *SEL_F,
        "--embeddings", "{emb_str}"),
    cli("embeddings-objects", "holds Python objects", *SEL_F, "--embeddings", "{emb_obj}"),
    cli("embeddings-random-bytes", "is not a .npy file", *SEL_F, "--embeddings", "{random}"),
    cli("embeddings-directory", "is a directory", *SEL_F, "--embeddings", "{dir}"),
    cli("out-empty", "an empty path names no file or directory", "select", "{good}", "--fraction", "0.3",
        "--out", ""),
    cli("shards-without-ray", "--shards, --partition and --alpha need --ray", *SEL_F, "--shards", "2"),
    cli("ray-other-method", "--ray runs --method prune4rel only", *SEL_F, "--ray", "--method", "uniform"),
    # ----------------------------------------------------------- outputs
    cli("select-out-read-only", "Read-only file system: {dir}/out (a read-only file system", *SEL_F,
        patch="read_only"),
    cli("select-out-read-only-file", "cannot write in {dir}: Read-only file system", "select", "{good}",
        "--fraction", "0.3", "--out", "{dir}/subset.npy", patch="read_only"),
    cli("run-out-read-only", "Read-only file system: {run}", *RUN, "--train-subset", "50", patch="read_only"),
    cli("report-out-read-only", "cannot write in {dir}: Read-only file system", "report", "{results}",
        "--out", "{dir}/table.md", patch="read_only"),
    cli("convert-out-read-only", "cannot write in {dir}: Read-only file system", "convert-signals", "{plain}",
        "{dir}/c.npz", "--key", "labels=y", "--key", "probs=p", "--key", "embeddings=p", patch="read_only"),
    # ----------------------------------------------------------- other commands
    cli("methods-unknown", "unknown method 'nope'", "methods", "nope"),
    cli("convert-random-bytes", "is not an .npz archive of arrays", "convert-signals", "{random}",
        "{dir}/c.npz"),
    cli("convert-npy", "a single .npy array", "convert-signals", "{npy}", "{dir}/c.npz"),
    cli("convert-missing-field", "no source array for ['embeddings']", "convert-signals", "{plain}",
        "{dir}/c.npz", "--key", "labels=y", "--key", "probs=p"),
    cli("report-no-results", "no result_", "report", "{no_results}"),
    cli("report-empty-path", "an empty path names no file or directory", "report", ""),
    # ----------------------------------------------------------- run: --set, flags, config
    cli("set-empty-value", "`train.epochs` has no value in 'train.epochs='", *RUN, "--set", "train.epochs="),
    cli("set-null-required", "`train.epochs` must be an integer >= 1, got None", *RUN, "--set",
        "train.epochs=null"),
    cli("set-text", "`train.epochs` must be an integer >= 1, got 'abc'", *RUN, "--set", "train.epochs=abc"),
    cli("set-unknown-field", "unknown config field `train.foo`", *RUN, "--set", "train.foo=1"),
    cli("set-unknown-section", "unknown config field `foo`", *RUN, "--set", "foo=1"),
    cli("flag-and-set", "`train.epochs` is set twice: by --epochs and by --set train.epochs=...", *RUN,
        "--epochs", "3", "--set", "train.epochs=4"),
    cli("alias-and-set", "`train.epochs` is set twice", *RUN, "--set", "epochs=3", "--set", "train.epochs=4"),
    cli("epochs-zero", "`train.epochs` must be an integer >= 1, got 0", *RUN, "--epochs", "0"),
    cli("fractions-text", "`selection.fractions` must be numbers, got '0.3,abc'", *RUN, "--fractions",
        "0.3,abc"),
    cli("fractions-nan", "`selection.fractions[0]` must be a number in (0, 1], got nan", *RUN,
        "--fractions", "nan"),
    cli("fractions-above-one", "`selection.fractions[0]` must be a number in (0, 1], got 1.5", *RUN,
        "--fractions", "1.5"),
    cli("method-empty", "no method name in ['']", *RUN, "--method", ""),
    cli("run-method-unknown", "unknown method 'nope'", *RUN, "--method", "nope"),
    cli("noise-rate-above-one", "`data.noise_rate` must be a number in [0, 1) or None, got 1.5", *RUN,
        "--noise-rate", "1.5"),
    cli("dataset-unknown", "`data.dataset` must be one of", *RUN, "--dataset", "nope"),
    cli("train-subset-zero", "`data.train_subset` must be an integer >= 1 or None, got 0", *RUN,
        "--train-subset", "0"),
    cli("run-device-unknown", "`device` must be 'cpu', 'cuda', 'cuda:N' or 'auto', got 'gpu'", *RUN,
        "--device", "gpu"),
    cli("model-unknown", "`warmup.model` must be one of", *RUN, "--model", "nope"),
    cli("learner-unknown", "`train.learner` must be a learner name", *RUN, "--learner", "nope"),
    cli("learner-param-text", "`train.params.lr` must be a number > 0, got 'abc'", *RUN, "--set",
        "train.params.lr=abc"),
    cli("learner-param-bool", "`train.params.amp` must be True or False, got 'maybe'", *RUN,
        "--set", "train.params.amp=maybe"),
    cli("learner-param-unknown", "`train.params.bogus` must be a known parameter name", *RUN,
        "--set", "train.params.bogus=1"),
    cli("selector-param-in-config", "`selection.params.prune4rel.tau` must be a number in [0, 1), got 2",
        *RUN,
        "--set", "selection.params={prune4rel: {tau: 2}}"),
    cli("data-path-on-digits", "`data.path` applies to the datasets 'arrays', 'image_csv' and 'hf' only",
        *RUN, "--data-path", "x.npz"),
    cli("data-root-on-digits", "`data.root` applies to the datasets", *RUN, "--data-root", "x"),
    cli("set-section-not-mapping", "`data` must be a mapping of its fields, got 5", *RUN, "--set", "data=5"),
    cli("set-section-unknown-field", "unknown field(s) `data.foo`", *RUN, "--set", "data={foo: 1}"),
    cli("arrays-file-missing", "`data.path` file not found", "run", "--out", "{dir}/run_arrays", "--quiet",
        "--dataset", "arrays", "--data-path", "{dir}/absent.npz"),
    cli("arrays-file-lacks-arrays", "lacks array(s)", "run", "--out", "{dir}/run_arrays2",
        "--quiet", "--dataset", "arrays", "--data-path", "{plain}"),
    cli("cifar10n-root-missing", "CIFAR-10N file not found", "run", "--out", "{dir}/run_cifar", "--quiet",
        "--dataset", "cifar10n", "--data-root", "{dir}/absent"),
    cli("resnet50-without-torchvision", "model 'resnet50' needs torchvision", "run", "--out", "{dir}/run_r50",
        "--quiet", "--model", "resnet50", "--train-subset", "50", absent="torchvision"),
    cli("config-missing", "config file not found", "run", "--config", "{dir}/absent.yaml", "--out", "{run}"),
    cli("config-directory", "is a directory", "run", "--config", "{dir}", "--out", "{run}"),
    cli("config-bad-yaml", "is not valid YAML", "run", "--config", "{bad_yaml}", "--out", "{run}"),
    cli("config-binary", "is not valid YAML", "run", "--config", "{binary_yaml}", "--out", "{run}"),
    cli("config-list", "a run config must be a mapping, got list", "run", "--config", "{list_yaml}",
        "--out", "{run}"),
    cli("config-unknown-key", "unknown config key `epochz`", "run", "--config", "{unknown_yaml}", "--out",
        "{run}"),
    cli("config-empty-value", "`train.epochs` must be an integer >= 1, got None", "run", "--config",
        "{empty_yaml}", "--out", "{run}"),
]

API_ROWS = [
    # ----------------------------------------------------------- prune4rel.select
    api("method-none", "`method` must be a selector name",
        lambda f: prune4rel.select(**arrays(), fraction=0.3,
                                                                                    method=None)),
    api("tau-none", "`tau` must be a number in [0, 1), got None",
        lambda f: prune4rel.select(**arrays(), fraction=0.3, tau=None)),
    api("balance-text", "`balance` must be True or False, got 'no'",
        lambda f: prune4rel.select(**arrays(), fraction=0.3, balance="no")),
    api("balance-none", "`balance` must be True or False, got None",
        lambda f: prune4rel.select(**arrays(), fraction=0.3, balance=None)),
    api("balance-int", "`balance` must be True or False, got 1",
        lambda f: prune4rel.select(**arrays(), fraction=0.3, balance=1)),
    api("fraction-3.0", "for 3 examples pass the int 3",
        lambda f: prune4rel.select(**arrays(), fraction=3.0)),
    api("fraction-nan", "`fraction` must be a float fraction in (0, 1] or an int count in [1, 60], got nan",
        lambda f: prune4rel.select(**arrays(), fraction=float("nan"))),
    api("fraction-bool", "`fraction` must be", lambda f: prune4rel.select(**arrays(), fraction=True)),
    api("fraction-text", "`fraction` must be", lambda f: prune4rel.select(**arrays(), fraction="0.3")),
    api("count-zero", "an int count in [1, 60], got 0", lambda f: prune4rel.select(**arrays(), fraction=0)),
    api("count-above-n", "an int count in [1, 60], got 61",
        lambda f: prune4rel.select(**arrays(), fraction=61)),
    api("fraction-negative", "got -0.5", lambda f: prune4rel.select(**arrays(), fraction=-0.5)),
    api("budget-of-select", "`budget` must be", lambda f: get_selector("uniform").select(with_(), 1.5)),
    api("signals-not-signals", "`signals` must be a prune4rel.Signals",
        lambda f: get_selector("uniform").select(
        "x", 0.3)),
    # ----------------------------------------------------------- get_selector, set_params
    api("selector-unknown-param", "`foo` must be one of the parameters that 'prune4rel' takes",
        lambda f: get_selector("prune4rel", foo=1)),
    api("selector-name-none", "`method` must be a selector name", lambda f: get_selector(None)),
    api("seed-text", "`seed` must be an integer >= 0, got 'abc'",
        lambda f: get_selector("uniform", seed="abc")),
    api("seed-float", "`seed` must be an integer >= 0, got 1.5", lambda f: get_selector("uniform", seed=1.5)),
    api("index-params-unknown", "`index_params.foo` must be a known parameter name",
        lambda f: get_selector("prune4rel", index_params={"foo": 1})),
    api("max-edges-negative", "`max_edges` must be an integer >= 1, got -5",
        lambda f: get_selector("prune4rel", max_edges=-5)),
    api("progress-text", "`progress` must be True or False",
        lambda f: get_selector("kcenter", progress="maybe")),
    api("set-params-tau", "`tau` must be a number in [0, 1), got 2.0",
        lambda f: get_selector("prune4rel").set_params(tau=2.0)),
    # ----------------------------------------------------------- get_learner
    api("learner-unknown-param", "`foo` must be one of the parameters that learner 'ce' takes",
        lambda f: get_learner("ce", foo=1)),
    api("learner-name-none", "`learner` must be a learner name", lambda f: get_learner(None)),
    api("learner-lr-text", "`lr` must be a number > 0, got 'abc'", lambda f: get_learner("ce", lr="abc")),
    api("learner-amp-text", "`amp` must be True or False, got 'yes'", lambda f: get_learner("ce", amp="yes")),
    api("learner-batch-zero", "`batch_size` must be an integer >= 1, got 0",
        lambda f: get_learner("ce", batch_size=0)),
    # ----------------------------------------------------------- Signals(...)
    api("meta-array", "`meta['a']` must hold JSON values", lambda f: with_(meta={"a": np.zeros(3)})),
    api("meta-not-mapping", "`meta` must be a mapping", lambda f: with_(meta=[1])),
    api("meta-int-key", "`meta` keys must be strings, got 1", lambda f: with_(meta={1: "x"})),
    api("meta-nested-object", "`meta['a'][0]` must hold JSON values",
        lambda f: with_(meta={"a": [object()]})),
    api("embeddings-none", "`embeddings` is required, got None", lambda f: with_(embeddings=None)),
    api("labels-none", "`labels` is required, got None", lambda f: with_(labels=None)),
    api("probs-ragged", "`probs` must be a numeric array, got list",
        lambda f: with_(probs=[[1.0], [0.5, 0.5]])),
    api("probs-logits", "(pass softmax probabilities, not logits)", lambda f: with_(probs=np.ones((N, 3)))),
    api("labels-out-of-range", "`labels` holds class id 5", lambda f: with_(labels=np.full(N, 5))),
    api("labels-text", "`labels` must hold integer class ids, got dtype <U1",
        lambda f: with_(labels=["a"] * N)),
    api("labels-bool", "`labels` must hold integer class ids, got dtype bool", lambda f: with_(
        labels=np.ones(N, dtype=bool))),
    api("embeddings-nan", "`embeddings` contains 1 NaN", lambda f: with_(embeddings=np.where(
        np.arange(4 * N).reshape(N, 4) == 5, np.nan, 1.0))),
    api("embeddings-rows", "`embeddings` has 50 rows, expected n = 60",
        lambda f: with_(embeddings=np.ones((50, 4)))),
    api("embeddings-complex", "`embeddings` must be a numeric array, got dtype complex128",
        lambda f: with_(embeddings=np.ones((N, 4)) + 1j)),
    api("embeddings-3d", "`embeddings` must have 2 dimensions",
        lambda f: with_(embeddings=np.ones((N, 4, 1)))),
    api("correct-not-bool", "`correct` must be a boolean (E, n) array",
        lambda f: with_(correct=np.full((2, N), 0.5))),
    api("no-examples", "Signals need at least one example", lambda f: Signals(
        labels=np.zeros(0, int), probs=np.zeros((0, 3)), embeddings=np.zeros((0, 4)))),
    # ----------------------------------------------------------- Signals.load
    api("load-directory", "is a directory, not a file", lambda f: Signals.load(f["dir"])),
    api("load-npy", "is a single .npy array, not a signals file", lambda f: Signals.load(f["npy"])),
    api("load-random-bytes", "not an .npz or .npy file", lambda f: Signals.load(f["random"])),
    api("load-without-embeddings", "required array(s) ['embeddings'] missing",
        lambda f: Signals.load(f["noemb"])),
    api("load-missing", "signals file not found", lambda f: Signals.load(f["dir"] / "absent.npz")),
    api("load-empty", "the file is empty", lambda f: Signals.load(f["empty"])),
    api("load-header-not-mapping", "is not a prune4rel header", lambda f: Signals.load(f["badheader"])),
    # ----------------------------------------------------------- RunConfig and its sections
    api("config-seed-bool", "`seed` must be an integer >= 0, got True", lambda f: RunConfig(seed=True)),
    api("config-device-int", "`device` must be 'cpu', 'cuda', 'cuda:N' or 'auto', got 3",
        lambda f: RunConfig(device=3)),
    api("config-alias-none", "`train.epochs` must be an integer >= 1, got None",
        lambda f: RunConfig.from_dict({"epochs": None})),
    api("config-override-none", "`train.epochs` must be an integer >= 1, got None",
        lambda f: RunConfig().with_overrides({"train.epochs": None})),
    api("config-selector-param", "`selection.params.prune4rel.tau` must be a number in [0, 1), got 'abc'",
        lambda f: RunConfig.from_dict({"selection": {"params": {"prune4rel": {"tau": "abc"}}}})),
    api("config-learner-param", "`train.params.lr` must be a number > 0, got 'abc'",
        lambda f: RunConfig.from_dict({"train": {"params": {"lr": "abc"}}})),
    api("config-not-mapping", "a run config must be a mapping, got list", lambda f: RunConfig.from_dict([1])),
    api("config-yaml-directory", "is a directory, not a YAML file", lambda f: RunConfig.from_yaml(f["dir"])),
    api("data-noise-rate-nan", "`data.noise_rate` must be a number in [0, 1) or None, got nan",
        lambda f: DataConfig(noise_rate=float("nan"))),
    api("selection-fraction-above-one", "`selection.fractions[0]` must be a number in (0, 1], got 1.5",
        lambda f: SelectionConfig(fractions=[1.5])),
]

ROWS = CLI_ROWS + API_ROWS


def _read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every new file or directory fails as on a read-only mount (root ignores chmod)."""

    def refuse(path: Any) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    def mkstemp(prefix: str = "", suffix: str = "", dir: Any = ".", **kwargs: Any) -> None:
        refuse(Path(dir) / f"{prefix}x{suffix}")

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(os, "mkdir", lambda path, *args, **kwargs: refuse(path))


def _fill(text: str, files: dict[str, Path]) -> str:
    """``text`` with each ``{name}`` of a file replaced by its path (other braces kept)."""
    for key, path in files.items():
        text = text.replace("{" + key + "}", str(path))
    return text


def outcome(row: Row, files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """("clear" | "traceback" | "silent" | "unclear", what was shown) for one row."""
    if row.call is not None:
        try:
            row.call(files)
        except ValueError as exc:
            return ("clear" if row.fragment in str(exc) else "unclear"), f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # any other is the raw kind
            return "traceback", f"{type(exc).__name__}: {exc}"
        return "silent", "accepted"
    args = [_fill(a, files) for a in row.args]
    fragment = _fill(row.fragment, files)
    with monkeypatch.context() as patch:
        if row.patch == "read_only":
            _read_only(patch)
        res = CliRunner().invoke(main, args)
    shown = res.output
    if res.exit_code == 0:
        return "silent", shown
    if not isinstance(res.exception, SystemExit) or "Traceback" in shown:
        return "traceback", f"{res.exception!r}\n{shown}"
    errors = [line for line in shown.splitlines() if line.startswith("Error: ")]
    if res.exit_code != 2 or len(errors) != 1 or fragment not in errors[0]:
        return "unclear", f"exit {res.exit_code}: {shown}"
    return "clear", shown


@pytest.mark.parametrize("row", ROWS, ids=[f"{'cli' if r.call is None else 'api'}:{r.id}" for r in ROWS])
def test_bad_input_gives_a_clear_error(
    row: Row, files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    if row.absent is not None and importlib.util.find_spec(row.absent) is not None:
        pytest.skip(f"{row.absent} is installed here")
    kind, shown = outcome(row, files, monkeypatch)
    assert kind == "clear", f"{kind} (wanted {row.fragment!r}):\n{shown}"
    written = [files["out"], files["dir"] / "c.npz", files["dir"] / "subset.npy", files["dir"] / "table.md"]
    assert not any(path.exists() for path in written)


def test_rows_are_distinct() -> None:
    assert len({(r.call is None, r.id) for r in ROWS}) == len(ROWS)
