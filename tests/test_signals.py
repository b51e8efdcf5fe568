"""Signals validation and the versioned file format."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from conftest import softmax
from hypothesis import given, settings
from hypothesis import strategies as st

from prune4rel import Signals, SignalsFileError


def make(n=12, c=3, d=4, epochs=2, seed=0, **over):
    rng = np.random.default_rng(seed)
    kw = dict(
        labels=rng.integers(0, c, n),
        probs=softmax(rng.normal(size=(n, c))),
        embeddings=rng.normal(size=(n, d)).astype(np.float32),
        losses=rng.random((epochs, n)),
        correct=rng.random((epochs, n)) > 0.5,
        margins=rng.normal(size=(epochs, n)),
        clean_labels=rng.integers(0, c, n),
    )
    kw.update(over)
    return Signals(**kw)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 30),
    c=st.integers(1, 5),
    d=st.integers(1, 6),
    epochs=st.integers(1, 3),
    seed=st.integers(0, 1000),
)
def test_round_trip_preserves_every_array(tmp_path_factory, n, c, d, epochs, seed):
    sig = make(n, c, d, epochs, seed, meta={"model": "tiny", "epochs": epochs})
    path = tmp_path_factory.mktemp("s") / "signals.npz"
    sig.save(path)
    back = Signals.load(path)
    for name in ("labels", "probs", "embeddings", "losses", "correct", "margins", "clean_labels"):
        got, want = getattr(back, name), getattr(sig, name)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    assert back.meta == {"model": "tiny", "epochs": epochs}


def test_optional_fields_may_be_absent(tmp_path):
    sig = make(losses=None, correct=None, margins=None, clean_labels=None)
    sig.save(tmp_path / "s.npz")
    back = Signals.load(tmp_path / "s.npz")
    assert not back.has("losses") and back.noise_rate() is None


def test_arrays_are_read_only():
    sig = make()
    with pytest.raises(ValueError):
        sig.labels[0] = 1


def test_subset_slices_histories():
    sig = make(n=10)
    sub = sig.subset(np.array([3, 1]))
    np.testing.assert_array_equal(sub.losses, sig.losses[:, [3, 1]])
    np.testing.assert_array_equal(sub.labels, sig.labels[[3, 1]])


@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"probs": np.full((12, 3), np.nan)}, "probs.*NaN"),
        ({"embeddings": np.full((12, 4), np.inf)}, "embeddings.*NaN or infinite"),
        ({"embeddings": np.zeros((11, 4))}, "embeddings.*11 rows"),
        ({"labels": np.zeros(13, dtype=int)}, "labels.*length 13"),
        ({"labels": np.full(12, 3)}, "labels.*class id 3"),
        ({"labels": np.full(12, -1)}, "labels.*negative"),
        ({"labels": np.full(12, 0.5)}, "labels.*integer"),
        ({"probs": np.full((12, 3), 0.5)}, "sum to 1"),
        ({"probs": -softmax(np.zeros((12, 3)))}, "negative"),
        ({"losses": np.zeros((2, 11))}, "losses.*shape"),
        ({"correct": np.zeros(12)}, "correct"),
        ({"clean_labels": np.full(12, 7)}, "clean_labels"),
        ({"embeddings": np.array(["a"] * 12)}, "embeddings.*numeric"),
    ],
)
def test_invalid_arrays_name_the_field(over, match):
    with pytest.raises(ValueError, match=match):
        make(**over)


def test_empty_signals_are_rejected():
    with pytest.raises(ValueError, match="empty"):
        Signals(labels=np.zeros(0, int), probs=np.zeros((0, 3)), embeddings=np.zeros((0, 2)))


def test_truncated_file_gives_a_clear_error(tmp_path):
    path = make().save(tmp_path / "s.npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SignalsFileError, match="corrupt or truncated"):
        Signals.load(path)


def test_flipped_bytes_are_detected(tmp_path):
    path = make().save(tmp_path / "s.npz")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("probs.npy")
    middle = info.header_offset + 30 + len(info.filename) + 200  # inside the probs payload
    data[middle] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(SignalsFileError):
        Signals.load(path)


def test_foreign_npz_and_missing_file(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(SignalsFileError, match="not a prune4rel signals file"):
        Signals.load(tmp_path / "other.npz")
    with pytest.raises(SignalsFileError, match="not found"):
        Signals.load(tmp_path / "absent.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(SignalsFileError, match=r"not an \.npz or \.npy file"):
        Signals.load(tmp_path / "text.npz")


def _rewrite(path, mutate):
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(arrays["__schema__"].tobytes().decode())
    mutate(arrays, header)
    arrays["__schema__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


def test_schema_version_and_mismatched_arrays(tmp_path):
    path = make().save(tmp_path / "s.npz")
    _rewrite(path, lambda a, h: h.update(schema_version=99))
    with pytest.raises(SignalsFileError, match="schema version 99"):
        Signals.load(path)
    path = make().save(tmp_path / "t.npz")
    _rewrite(path, lambda a, h: a.update(probs=a["probs"][:5]))
    with pytest.raises(SignalsFileError, match="probs"):
        Signals.load(path)
    path = make().save(tmp_path / "u.npz")
    _rewrite(path, lambda a, h: a.pop("losses"))
    with pytest.raises(SignalsFileError, match="do not match the header"):
        Signals.load(path)


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    make().save(tmp_path / "s.npz")
    make(seed=1).save(tmp_path / "s.npz")  # overwrite
    assert [p.name for p in tmp_path.iterdir()] == ["s.npz"]
