"""dataset "hf": an image dataset saved with datasets' save_to_disk, built here on the fly
(nothing downloaded), loaded directly, through the registry and by `prune4rel run`."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from prune4rel.cli import main
from prune4rel.config import DataConfig, RunConfig, data_key
from prune4rel.data import dataset_spec, load_dataset
from prune4rel.data.dataset import is_memory_mapped
from prune4rel.data.layouts.hf import load_hf_images

datasets = pytest.importorskip("datasets", reason="needs the [hf] extra")
pytest.importorskip("PIL")

NAMES = ["cat", "dog", "bird"]


def images(n: int, seed: int, shape=(12, 10, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)


def build(n: int, seed: int, clean_unknown: int = 0) -> tuple[object, np.ndarray, np.ndarray, np.ndarray]:
    """A Dataset of n PNG-encoded images with noisy and clean label columns."""
    x = images(n, seed)
    truth = np.arange(n) % 3
    noisy = np.where(np.arange(n) % 4 == 0, (truth + 1) % 3, truth)
    clean = truth.copy()
    clean[:clean_unknown] = -1
    features = datasets.Features({
        "img": datasets.Image(), "noisy": datasets.ClassLabel(names=NAMES), "truth": datasets.Value("int64"),
    })
    ds = datasets.Dataset.from_dict({"img": list(x), "noisy": noisy.tolist(), "truth": clean.tolist()},
                                    features=features)
    return ds, x, noisy, clean


@pytest.fixture
def saved(tmp_path):
    """A DatasetDict (train 30, test 9) and a plain Dataset (40) saved to disk."""
    train, x, noisy, clean = build(30, 0)
    test, x_test, noisy_test, clean_test = build(9, 1)
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(tmp_path / "dict"))
    plain, x_plain, noisy_plain, clean_plain = build(40, 2)
    plain.save_to_disk(str(tmp_path / "plain"))
    return {
        "dict": tmp_path / "dict", "plain": tmp_path / "plain",
        "train": (x, noisy, clean), "test": (x_test, noisy_test, clean_test),
        "plain_arrays": (x_plain, noisy_plain, clean_plain),
    }


def test_a_dataset_dict_with_its_test_split_round_trips_the_pixels(saved):
    ds = load_hf_images(saved["dict"], image_column="img", label_column="noisy", clean_label_column="truth",
                        image_size=None)
    x, noisy, clean = saved["train"]
    x_test, _, clean_test = saved["test"]
    np.testing.assert_array_equal(ds.x, x)  # PNG is lossless, no resize
    np.testing.assert_array_equal(ds.x_test, x_test)
    np.testing.assert_array_equal(ds.noisy_labels, noisy)
    np.testing.assert_array_equal(ds.clean_labels, clean)
    np.testing.assert_array_equal(ds.y_test, clean_test)  # the clean test labels, not the noisy ones
    assert ds.class_names == tuple(NAMES) and ds.num_classes == 3
    assert ds.test_set == "dict-test" and ds.noise_rate() == pytest.approx(np.mean(noisy != clean))


def test_resize_and_first_rows(saved):
    ds = load_hf_images(saved["dict"], image_column="img", label_column="noisy", image_size=8,
                        max_train=7, max_test=4)
    assert ds.x.shape == (7, 8, 8, 3) and ds.x_test.shape == (4, 8, 8, 3) and ds.x.dtype == np.uint8
    np.testing.assert_array_equal(ds.noisy_labels, saved["train"][1][:7])
    assert ds.clean_labels is None
    np.testing.assert_array_equal(ds.y_test, saved["test"][1][:4])  # no clean column: given labels


def test_a_plain_dataset_holds_out_a_seeded_share(saved):
    args = {"image_column": "img", "label_column": "noisy", "clean_label_column": "truth", "image_size": None}
    ds = load_hf_images(saved["plain"], seed=3, **args)
    again = load_hf_images(saved["plain"], seed=3, **args)
    other = load_hf_images(saved["plain"], seed=4, **args)
    x, noisy, clean = saved["plain_arrays"]
    assert (ds.n, ds.n_test) == (32, 8) and ds.test_set == "plain-holdout8-seed3"
    np.testing.assert_array_equal(ds.x, again.x)
    assert not np.array_equal(ds.x, other.x)
    held = np.sort(np.random.default_rng(3).permutation(40)[:8])
    kept = np.setdiff1d(np.arange(40), held)
    np.testing.assert_array_equal(ds.x_test, x[held])
    np.testing.assert_array_equal(ds.y_test, clean[held])
    np.testing.assert_array_equal(ds.x, x[kept])
    np.testing.assert_array_equal(ds.noisy_labels, noisy[kept])


def test_unknown_clean_labels_and_a_separate_test_folder(tmp_path, saved):
    part = build(20, 5, clean_unknown=3)[0]
    part.save_to_disk(str(tmp_path / "part"))
    ds = load_hf_images(tmp_path / "part", image_column="img", label_column="noisy",
                        clean_label_column="truth", test_path=saved["plain"], image_size=6)
    assert ds.clean_labels is None and ds.meta["clean_labels_known"] == 17
    assert ds.n == 20 and ds.n_test == 40 and ds.test_set == "part-test"
    np.testing.assert_array_equal(ds.y_test, saved["plain_arrays"][2])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"image_column": "image"}, r"has no column 'image'; its columns are \['img', 'noisy', 'truth'\]"),
        ({"image_column": "truth"}, "not an image feature"),
        ({"label_column": "img"}, "must hold integer class ids"),
        ({"test_split": "validation"}, r"has no split 'validation'; it has \['test', 'train'\]"),
    ],
)
def test_errors_name_what_is_missing(saved, kwargs, match):
    args = {"image_column": "img", "label_column": "noisy", **kwargs}
    with pytest.raises(ValueError, match=match):
        load_hf_images(saved["dict"], **args)


def test_more_errors(saved, tmp_path):
    with pytest.raises(ValueError, match="is a Dataset without splits; `test_split` 'test'"):
        load_hf_images(saved["plain"], image_column="img", label_column="noisy", test_split="test")
    with pytest.raises(ValueError, match="not a folder written by datasets' save_to_disk"):
        load_hf_images(tmp_path, image_column="img", label_column="noisy")
    with pytest.raises(ValueError, match="`test_size` must be a float in"):
        load_hf_images(saved["plain"], image_column="img", label_column="noisy", test_size=1)


def test_a_cache_is_decoded_once_and_equals_the_in_memory_copy(saved, tmp_path, monkeypatch):
    args = {"image_column": "img", "label_column": "noisy", "image_size": 8}
    in_ram = load_hf_images(saved["dict"], **args)
    cached = load_hf_images(saved["dict"], cache=tmp_path / "cache", **args)
    assert is_memory_mapped(cached.x) and is_memory_mapped(cached.x_test)
    np.testing.assert_array_equal(cached.x, in_ram.x)
    np.testing.assert_array_equal(cached.x_test, in_ram.x_test)
    import prune4rel.data.decode as decode

    monkeypatch.setattr(decode, "decode_image", lambda *a, **k: pytest.fail("decoded again"))
    np.testing.assert_array_equal(load_hf_images(saved["dict"], cache=tmp_path / "cache", **args).x, in_ram.x)


def test_the_registry_entry_and_its_config_fields(saved):
    spec = dataset_spec("hf")
    assert spec.image_files and set(spec.extra_fields) >= {"image_column", "label_column", "test_split"}
    config = DataConfig(dataset="hf", path=str(saved["dict"]), image_column="img", label_column="noisy",
                        clean_label_column="truth", image_size=8, train_subset=10)
    ds = load_dataset(config)
    assert ds.n == 10 and ds.x.shape[1:] == (8, 8, 3) and ds.meta["label"] == "dict (8px), first 10"
    defaults = DataConfig(dataset="hf", path="somewhere")
    assert (defaults.image_column, defaults.label_column, defaults.image_size) == ("image", "label", 64)
    with pytest.raises(ValueError, match=r"`data.image_column` applies to the dataset 'hf' only"):
        DataConfig(dataset="digits", image_column="img")
    with pytest.raises(ValueError, match=r"`data.test_path` applies to the datasets 'image_csv' and 'hf'"):
        DataConfig(dataset="arrays", path="a.npz", test_path="t")
    with pytest.raises(ValueError, match=r"`data.label_column` must be a non-empty name"):
        DataConfig(dataset="hf", path="somewhere", label_column="")


def test_new_fields_leave_other_configs_and_their_hashes_alone(saved):
    digits = RunConfig()
    assert "image_column" not in digits.to_yaml() and "test_split" not in digits.to_yaml()
    # hashed as before the fields existed: the data key of the defaults, fixed at the first schema
    assert data_key(digits.data) == data_key(DataConfig(dataset="digits"))
    assert RunConfig.from_dict(yaml.safe_load(digits.to_yaml())) == digits
    hf = RunConfig.from_dict({"data": {"dataset": "hf", "path": str(saved["dict"]), "test_split": "test"}})
    text = hf.to_yaml()
    assert "image_column: image" in text and "test_split: test" in text and "clean_label_column" not in text
    assert RunConfig.from_dict(yaml.safe_load(text)) == hf
    assert data_key(hf.data) != data_key(hf.with_overrides({"data.label_column": "noisy"}).data)


def test_prune4rel_run_on_a_saved_dataset(saved, tmp_path):
    base = ["run", "--dataset", "hf", "--data-path", str(saved["dict"]), "--image-column", "img",
            "--label-column", "noisy", "--clean-label-column", "truth", "--image-size", "8"]
    printed = CliRunner().invoke(main, [*base, "--print-config"])
    assert printed.exit_code == 0, printed.output
    assert yaml.safe_load(printed.output)["data"]["image_column"] == "img"
    args = [*base, "--model", "mlp", "--learner", "ce", "--method", "uniform", "--fractions", "0.5",
            "--warmup-epochs", "1", "--epochs", "1", "--set", "warmup.params={num_threads: 1, batch_size: 8}",
            "--set", "train.params={num_threads: 1, batch_size: 8}", "--out", str(tmp_path / "run"),
            "--quiet"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "uniform 0.5" in res.output and "size     15" in res.output
    assert "(test set: dict-test)" in res.output


def test_the_readme_example_runs(tmp_path, monkeypatch):
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = text.index("`--dataset hf --data-path DIR`")
    python, bash = re.findall(r"```(?:python|bash)\n(.*?)```", text[start:], flags=re.S)[:2]
    monkeypatch.chdir(tmp_path)
    exec(compile(python, "README.md", "exec"), {})
    args = shlex.split(bash.replace("\\\n", " "))
    assert args[:2] == ["prune4rel", "run"]
    res = CliRunner().invoke(main, [*args[1:], "--quiet"])
    assert res.exit_code == 0, res.output
    assert "(test set: my_hf_set-holdout8-seed0-noisylabels)" in res.output
