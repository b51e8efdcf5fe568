"""Signals from plain arrays with other key names, and `prune4rel convert-signals`."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import softmax

from prune4rel import Signals, SignalsFileError
from prune4rel.cli import main


def plain_arrays(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "y": rng.integers(0, 3, n),
        "p": softmax(rng.normal(size=(n, 3))).astype(np.float32),
        "feat": rng.normal(size=(n, 4)).astype(np.float16),
        "loss_hist": rng.random((2, n)).astype(np.float16),
    }


def test_from_arrays_maps_other_names():
    arrays = plain_arrays()
    sig = Signals.from_arrays(
        arrays, {"labels": "y", "probs": "p", "embeddings": "feat", "losses": "loss_hist"}, meta={"a": 1}
    )
    np.testing.assert_array_equal(sig.labels, arrays["y"])
    np.testing.assert_array_equal(sig.probs, arrays["p"])
    np.testing.assert_array_equal(sig.embeddings, arrays["feat"])
    assert sig.embeddings.dtype == np.float16 and sig.losses.dtype == np.float16  # no silent upcast
    assert sig.meta == {
        "a": 1,
        "source_keys": {"embeddings": "feat", "labels": "y", "losses": "loss_hist", "probs": "p"},
    }
    assert not sig.has("correct")


def test_from_arrays_uses_same_named_arrays_and_ignores_the_rest():
    arrays = plain_arrays()
    same = {"labels": arrays["y"], "probs": arrays["p"], "embeddings": arrays["feat"], "other": [1, 2]}
    sig = Signals.from_arrays(same)
    assert sig.meta["source_keys"] == {"embeddings": "embeddings", "labels": "labels", "probs": "probs"}


def test_from_arrays_softmaxes_logits():
    # softmax([0, ln 3]) = [1/4, 3/4]; softmax([ln 2, ln 2]) = [1/2, 1/2]
    arrays = {"y": [1, 0], "out": [[0.0, np.log(3.0)], [np.log(2.0), np.log(2.0)]], "emb": np.eye(2)}
    sig = Signals.from_arrays(arrays, {"labels": "y", "logits": "out", "embeddings": "emb"})
    np.testing.assert_allclose(sig.probs, [[0.25, 0.75], [0.5, 0.5]], rtol=1e-6)
    assert sig.probs.dtype == np.float32
    # a mapped `logits` wins over a same-named `probs` array; an unmapped one loses to it
    both = {**arrays, "probs": [[1.0, 0.0], [0.0, 1.0]], "logits": [[5.0, 0.0], [0.0, 5.0]]}
    mapped = Signals.from_arrays(both, {"labels": "y", "logits": "out", "embeddings": "emb"})
    assert mapped.probs[0, 0] == 0.25
    assert Signals.from_arrays(both, {"labels": "y", "embeddings": "emb"}).probs[0, 0] == 1.0


@pytest.mark.parametrize(
    ("keys", "match"),
    [
        ({"label": "y"}, "`keys` names unknown field"),
        ({"labels": "nope"}, "has no such array"),
        ({"labels": "y", "probs": "p", "logits": "p"}, "both `probs` and `logits`"),
        ({"labels": "y", "probs": "p"}, r"no source array for \['embeddings'\]"),
        ({"probs": "p", "embeddings": "feat"}, r"no source array for \['labels'\].*--key labels=y"),
        ({"labels": "y", "embeddings": "feat"}, r"no source array for \['probs'\]"),
        ({"labels": "y", "probs": "loss_hist", "embeddings": "p"}, "rows must sum to 1"),
    ],
)
def test_from_arrays_errors_name_the_problem(keys, match):
    with pytest.raises(ValueError, match=match):
        Signals.from_arrays(plain_arrays(), keys)


def test_convert_signals_command(tmp_path):
    arrays = plain_arrays()
    np.savez(tmp_path / "plain.npz", **arrays, noise=np.array("worse_label"), extra=np.zeros(3))
    res = CliRunner().invoke(
        main,
        [
            "convert-signals", str(tmp_path / "plain.npz"), str(tmp_path / "out.npz"),
            "--key", "labels=y", "--key", "probs=p", "--key", "embeddings=feat", "--key", "losses=loss_hist",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "fields: embeddings <- feat, labels <- y, losses <- loss_hist, probs <- p" in res.output
    assert "meta: noise='worse_label'" in res.output
    assert "ignored arrays: extra" in res.output
    sig = Signals.load(tmp_path / "out.npz")
    np.testing.assert_array_equal(sig.labels, arrays["y"])
    np.testing.assert_array_equal(sig.losses, arrays["loss_hist"])
    assert sig.meta["noise"] == "worse_label" and sig.meta["converted_from"] == "plain.npz"


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--key", "labels"], "expected FIELD=NAME"),
        (["--key", "labels=y", "--key", "labels=y"], "expected FIELD=NAME once per field"),
        (["--key", "labels=z"], "has no such array"),
    ],
)
def test_convert_signals_bad_keys(tmp_path, args, match):
    np.savez(tmp_path / "plain.npz", **plain_arrays())
    cmd = ["convert-signals", str(tmp_path / "plain.npz"), str(tmp_path / "o.npz"), *args]
    res = CliRunner().invoke(main, cmd)
    assert res.exit_code != 0
    assert match in res.output
    assert not (tmp_path / "o.npz").exists()


def test_convert_signals_refuses_signals_files_and_non_archives(tmp_path):
    arrays = plain_arrays()
    Signals(labels=arrays["y"], probs=arrays["p"], embeddings=arrays["feat"]).save(tmp_path / "s.npz")
    res = CliRunner().invoke(main, ["convert-signals", str(tmp_path / "s.npz"), str(tmp_path / "o.npz")])
    assert res.exit_code != 0 and "already a prune4rel signals file" in res.output
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    res = CliRunner().invoke(main, ["convert-signals", str(tmp_path / "junk.npz"), str(tmp_path / "o.npz")])
    assert res.exit_code == 2 and "is not an .npz archive of arrays" in res.output


def test_select_on_a_plain_file_says_how_to_convert(tmp_path):
    np.savez(tmp_path / "plain.npz", **plain_arrays())
    with pytest.raises(SignalsFileError, match=r"holds \['feat', 'loss_hist', 'p', 'y'\]"):
        Signals.load(tmp_path / "plain.npz")
    res = CliRunner().invoke(
        main, ["select", str(tmp_path / "plain.npz"), "--fraction", "0.5", "--out", str(tmp_path / "i.npy")]
    )
    assert res.exit_code != 0
    assert f"prune4rel convert-signals {tmp_path / 'plain.npz'} OUT.npz" in res.output


@pytest.mark.realdata
def test_convert_the_shared_worst_signals(shared_data, tmp_path):
    src = shared_data / "cifar10n_worst_signals_smallcnn.npz"
    res = CliRunner().invoke(main, ["convert-signals", str(src), str(tmp_path / "worst.npz")])
    assert res.exit_code == 0, res.output
    sig = Signals.load(tmp_path / "worst.npz")
    assert (sig.n, sig.num_classes, sig.embeddings.shape[1]) == (50000, 10, 128)
    assert sig.losses.shape == sig.correct.shape == (8, 50000) and not sig.has("margins")
    assert sig.meta["noise"] == "worse_label"
    with np.load(src) as raw:
        for name in ("labels", "probs", "embeddings", "losses", "correct"):
            np.testing.assert_array_equal(getattr(sig, name), raw[name])
    with np.load(shared_data / "cifar10n_labels.npz") as labels:
        np.testing.assert_array_equal(sig.labels, labels["worse_label"])
        noise = np.mean(labels["worse_label"] != labels["clean_label"])
    assert noise == pytest.approx(0.4021, abs=5e-5)  # the README's 40.21%
