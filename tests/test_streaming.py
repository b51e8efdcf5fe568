"""Image files decoded into a resumable on-disk cache and streamed to the learners from it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from prune4rel._io import ResumeWarning
from prune4rel.cli import main
from prune4rel.data import NoisyDataset, decode_image, index_image_csv
from prune4rel.data import decode as decode_module
from prune4rel.data.dataset import is_memory_mapped
from prune4rel.data.decode import cache_key, decode_images_to_npy
from prune4rel.learners import get_learner
from prune4rel.pipeline import DataConfig, RunConfig, load_dataset, run_experiment

N_TRAIN, N_TEST, SIZE = 40, 12, 8


def _write_images(root: Path) -> Path:
    """Two classes told apart by colour (red vs blue) with noise; varied sizes and formats;
    a train CSV with 20% wrong labels (clean_label column) and a test CSV."""
    rng = np.random.default_rng(0)

    def image(path: Path, label: int) -> None:
        h, w = rng.integers(8, 14, size=2)
        arr = rng.integers(0, 90, size=(h, w, 3))
        arr[..., 0 if label == 0 else 2] += 150
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr.astype(np.uint8)).save(path)

    rows = ["path,label,clean_label"]
    for i in range(N_TRAIN):
        clean = i % 2
        image(root / "imgs" / f"{i}.png", clean)
        given = 1 - clean if i % 5 == 0 else clean
        rows.append(f"imgs/{i}.png,{given},{clean}")
    (root / "train.csv").write_text("\n".join(rows) + "\n")
    test_rows = ["path,label"]
    for i in range(N_TEST):
        image(root / "test" / f"{i}.png", i % 2)
        test_rows.append(f"test/{i}.png,{i % 2}")
    (root / "test.csv").write_text("\n".join(test_rows) + "\n")
    return root / "train.csv"


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return _write_images(tmp_path / "data")


@pytest.fixture
def paths(images: Path) -> list[Path]:
    return [images.parent / "imgs" / f"{i}.png" for i in range(N_TRAIN)]


def _reference(paths: list[Path]) -> np.ndarray:
    return np.stack([decode_image(p, SIZE) for p in paths])


class CountingDecoder:
    """Stands in for ``decode_image``: counts calls and can fail after ``fail_after``."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls, self.fail_after = 0, fail_after

    def __call__(self, path, image_size=None, mode="RGB"):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("simulated interruption")
        self.calls += 1
        return decode_image(path, image_size, mode)


# ---------------------------------------------------------------------------- the decode cache
def test_cache_equals_in_memory_decode_and_is_reused(tmp_path, paths, monkeypatch) -> None:
    out = decode_images_to_npy(paths, tmp_path / "cache", SIZE, workers=2, chunk_rows=7)
    assert isinstance(out, np.memmap) and is_memory_mapped(out) and not out.flags.writeable
    np.testing.assert_array_equal(out, _reference(paths))
    dest = tmp_path / "cache" / f"images-{cache_key(paths, SIZE, 'RGB')}.npy"
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [dest.name]  # no partial files left
    counter = CountingDecoder()
    monkeypatch.setattr(decode_module, "decode_image", counter)
    again = decode_images_to_npy(paths, tmp_path / "cache", SIZE)
    assert counter.calls == 0
    np.testing.assert_array_equal(again, out)
    # another size or another file list is another cache file
    other = decode_images_to_npy(paths[:5], tmp_path / "cache", SIZE)
    assert counter.calls == 5 and other.shape == (5, SIZE, SIZE, 3)


def test_interrupted_decode_resumes_from_its_last_chunk(tmp_path, paths, monkeypatch) -> None:
    failing = CountingDecoder(fail_after=10)  # row 0 (the shape probe), then chunks [1, 4), [4, 8), 2 more
    monkeypatch.setattr(decode_module, "decode_image", failing)
    with pytest.raises(KeyboardInterrupt):
        decode_images_to_npy(paths, tmp_path, SIZE, chunk_rows=4)
    record = json.loads(next(tmp_path.glob("*.progress.json")).read_text())
    assert record["rows_done"] == 8 and record["shape"] == [N_TRAIN, SIZE, SIZE, 3]
    assert not list(tmp_path.glob("images-*.npy"))  # the final name appears only when complete
    counter = CountingDecoder()
    monkeypatch.setattr(decode_module, "decode_image", counter)
    out = decode_images_to_npy(paths, tmp_path, SIZE, chunk_rows=4)
    assert counter.calls == 1 + (N_TRAIN - 8)
    np.testing.assert_array_equal(out, _reference(paths))


def test_foreign_progress_record_and_corrupt_cache_are_redone(tmp_path, paths, monkeypatch) -> None:
    monkeypatch.setattr(decode_module, "decode_image", CountingDecoder(fail_after=6))
    with pytest.raises(KeyboardInterrupt):
        decode_images_to_npy(paths, tmp_path, SIZE, chunk_rows=2)
    record = next(tmp_path.glob("*.progress.json"))
    record.write_text(json.dumps({**json.loads(record.read_text()), "key": "0" * 16}))
    counter = CountingDecoder()
    monkeypatch.setattr(decode_module, "decode_image", counter)
    with pytest.warns(ResumeWarning, match="another decode"):
        out = decode_images_to_npy(paths, tmp_path, SIZE, chunk_rows=2)
    assert counter.calls == N_TRAIN  # from scratch: the shape probe is row 0
    np.testing.assert_array_equal(out, _reference(paths))
    dest = Path(out.filename)
    del out
    dest.write_bytes(b"not a npy file")
    with pytest.warns(ResumeWarning, match=r"not a readable .npy"):
        redone = decode_images_to_npy(paths, tmp_path, SIZE)
    np.testing.assert_array_equal(redone, _reference(paths))


def test_cache_errors(tmp_path, paths, monkeypatch) -> None:
    with pytest.raises(ValueError, match="empty"):
        decode_images_to_npy([], tmp_path, SIZE)
    with pytest.raises(ValueError, match="chunk_rows"):
        decode_images_to_npy(paths, tmp_path, SIZE, chunk_rows=0)
    with pytest.raises(ValueError, match="has shape"):  # native sizes differ between files
        decode_images_to_npy(paths, tmp_path, None)
    with pytest.raises(ValueError, match="image file not found"):
        decode_images_to_npy([*paths[:3], tmp_path / "missing.png"], tmp_path, SIZE)
    full = shutil.disk_usage(tmp_path)._replace(free=100)
    monkeypatch.setattr(decode_module.shutil, "disk_usage", lambda _: full)
    with pytest.raises(ValueError, match="GiB of disk"):
        decode_images_to_npy(paths, tmp_path / "other", SIZE)


def test_materialize_with_cache(tmp_path, images) -> None:
    index = index_image_csv(images, test_csv=images.parent / "test.csv")
    in_ram = index.materialize(image_size=SIZE, progress=False)
    mapped = index.materialize(image_size=SIZE, progress=False, cache=tmp_path / "c")
    for ds in (in_ram, mapped):
        assert isinstance(ds, NoisyDataset)
    assert is_memory_mapped(mapped.x) and is_memory_mapped(mapped.x_test)
    assert not is_memory_mapped(in_ram.x)
    np.testing.assert_array_equal(mapped.x, in_ram.x)
    np.testing.assert_array_equal(mapped.x_test, in_ram.x_test)
    np.testing.assert_array_equal(mapped.noisy_labels, in_ram.noisy_labels)
    assert mapped.meta["decoded_cache"] == str(tmp_path / "c")
    for a, b in zip(mapped.normalization(), in_ram.normalization(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)  # few rows: both read every pixel


# ---------------------------------------------------------------------------- streaming learners
def _mapped_copy(ds: NoisyDataset, folder: Path) -> NoisyDataset:
    folder.mkdir()
    np.save(folder / "x.npy", ds.x)
    np.save(folder / "x_test.npy", ds.x_test)
    return NoisyDataset(
        x=np.load(folder / "x.npy", mmap_mode="r"), noisy_labels=ds.noisy_labels,
        x_test=np.load(folder / "x_test.npy", mmap_mode="r"), y_test=ds.y_test,
        num_classes=ds.num_classes, clean_labels=ds.clean_labels,
    )


@pytest.mark.filterwarnings("error::UserWarning")  # e.g. torch's warning on read-only arrays
@pytest.mark.parametrize("learner", ["ce", "sop+", "dividemix"])
def test_learner_on_a_mapped_set_matches_in_memory_training(tmp_path, learner) -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(64, 8, 8, 3), dtype=np.uint8)
    y = (x[..., 0].mean(axis=(1, 2)) > 127).astype(np.int64)
    ds = NoisyDataset(x=x, noisy_labels=y, x_test=x[:16].copy(), y_test=y[:16], num_classes=2)
    mapped = _mapped_copy(ds, tmp_path / "m")
    kw = {"model": "small_cnn", "batch_size": 16, "num_threads": 1, "seed": 3}
    if learner == "dividemix":
        kw.update(warmup_epochs=1)
    results = []
    for data in (ds, mapped):
        model = get_learner(learner, **kw)
        model.fit(data, epochs=2, progress=False)
        probs, emb = model.predict(data)
        results.append((probs, emb, model.corrected_labels()))
        if data is mapped:  # the learner reads the file's pages, it holds no copy of them
            assert model._data.raw.data_ptr() == np.asarray(mapped.x).ctypes.data
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.gpu
def test_mapped_set_stays_on_the_host_with_cuda(tmp_path) -> None:
    x = np.random.default_rng(0).integers(0, 256, size=(32, 8, 8, 3), dtype=np.uint8)
    y = np.arange(32) % 2
    mapped = _mapped_copy(NoisyDataset(x=x, noisy_labels=y, x_test=x[:4].copy(), y_test=y[:4], num_classes=2),
                          tmp_path / "m")
    model = get_learner("ce", model="small_cnn", batch_size=8, device="cuda")
    model.fit(mapped, epochs=2, progress=False)  # batches read ahead on a side stream
    assert model._data.raw.device.type == "cpu" and model.device == torch.device("cuda", 0)
    probs = model.predict(mapped)[0]
    assert probs.shape == (32, 2) and np.isfinite(probs).all()


# ---------------------------------------------------------------------------- pipeline and CLI
def _file_config(images: Path, cache: Path, **data) -> RunConfig:
    learner = {"num_threads": 1, "batch_size": 16, "lr": 0.05}
    return RunConfig.from_dict({
        "data": {"dataset": "image_csv", "path": str(images), "test_path": str(images.parent / "test.csv"),
                 "image_size": SIZE, "cache": str(cache), **data},
        "warmup": {"epochs": 1, "model": "small_cnn", "params": learner},
        "selection": {"methods": ["prune4rel", "uniform"], "fractions": [0.5]},
        "train": {"learner": "sop+", "epochs": 1, "model": "small_cnn", "params": learner},
    })


def test_pipeline_runs_on_image_files_through_the_cache(tmp_path, images, monkeypatch) -> None:
    config = _file_config(images, tmp_path / "cache")
    ds = load_dataset(config.data)
    assert is_memory_mapped(ds.x) and ds.n == N_TRAIN and ds.n_test == N_TEST
    assert ds.noise_rate() == pytest.approx(0.2)
    assert ds.meta["label"] == "train (8px)"
    summary = run_experiment(config, tmp_path / "run", progress=False)
    sizes = {(r["method"], r["subset_size"]) for r in summary["results"]}
    assert sizes == {("prune4rel", 20), ("uniform", 20)}
    # a second run into another directory reuses the decoded cache: nothing is decoded again
    counter = CountingDecoder()
    monkeypatch.setattr(decode_module, "decode_image", counter)
    again = run_experiment(config, tmp_path / "run2", progress=False)
    assert counter.calls == 0
    assert [r["test_acc_best"] for r in again["results"]] == [r["test_acc_best"] for r in summary["results"]]


def test_file_dataset_synthetic_noise_and_subsets(tmp_path, images) -> None:
    config = _file_config(images, tmp_path / "cache", noise_rate=0.5, train_subset=30, test_subset=5)
    ds = load_dataset(config.data)
    assert ds.n == 30 and ds.n_test == 5
    # the synthetic noise flips the clean column's labels, which become the evaluation truth
    clean = np.array([i % 2 for i in range(30)])
    np.testing.assert_array_equal(ds.clean_labels, clean)
    assert 0.3 < ds.noise_rate() < 0.7
    assert "symmetric 50%" in ds.meta["label"]


def test_data_config_errors(images) -> None:
    with pytest.raises(ValueError, match=r"image_size.*image-file datasets"):
        DataConfig(dataset="digits", image_size=32)
    with pytest.raises(ValueError, match=r"cache.*image-file datasets"):
        DataConfig(dataset="arrays", path="x.npz", cache="c")
    with pytest.raises(ValueError, match=r"label_set.*'cifar10n' and 'cifar100n' only"):
        DataConfig(dataset="digits", label_set="worst")
    with pytest.raises(ValueError, match=r"data.path.*required.*image_csv"):
        DataConfig(dataset="image_csv")
    with pytest.raises(ValueError, match=r"data.root.*required.*webvision"):
        DataConfig(dataset="webvision")
    with pytest.raises(ValueError, match="dataset 'clothing1m' already holds human noise"):
        DataConfig(dataset="clothing1m", root="r", noise_rate=0.2)
    with pytest.raises(ValueError, match=r"data.label_set"):
        DataConfig(dataset="cifar100n", root="r", label_set="worst")
    with pytest.raises(ValueError, match=r"test_path.*image_csv"):
        DataConfig(dataset="imagenet", root="r", test_path="t.csv")
    with pytest.raises(ValueError, match="image_size"):
        DataConfig(dataset="image_csv", path=str(images), image_size=0)
    assert DataConfig(dataset="cifar100n", root="r").label_set == "noisy"
    assert DataConfig(dataset="cifar10n", root="r").label_set == "worst"
    assert DataConfig(dataset="imagenet", root="r").image_size == 64


def test_cli_run_on_image_files(tmp_path, images) -> None:
    learner = "--set warmup.params.num_threads=1 --set train.params.num_threads=1".split()
    args = ["run", "--dataset", "image_csv", "--data-path", str(images),
            "--test-path", str(images.parent / "test.csv"), "--image-size", str(SIZE),
            "--cache", str(tmp_path / "cache"), "--model", "small_cnn", "--learner", "ce",
            "--method", "uniform", "--fractions", "0.5", "--warmup-epochs", "1", "--epochs", "1",
            "--out", str(tmp_path / "run"), "--quiet", *learner]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "uniform" in result.output and list((tmp_path / "cache").glob("train-*.npy"))
    bad = CliRunner().invoke(main, [*args[:2], "webvision", "--out", str(tmp_path / "r2")])
    assert bad.exit_code != 0 and "data.root" in bad.output


def test_pipeline_loads_cifar100n(tmp_path) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 100, 30)
    np.savez(tmp_path / "cifar100.npz", x_train=rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8),
             y_train=y, x_test=rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8), y_test=y[:6])
    noisy = np.where(np.arange(30) % 3 == 0, (y + 1) % 100, y)
    np.savez(tmp_path / "cifar100n_labels.npz", clean_label=y, noisy_label=noisy)
    human = load_dataset(DataConfig(dataset="cifar100n", root=str(tmp_path), train_subset=24))
    assert human.n == 24 and human.num_classes == 100 and human.noise_rate() == pytest.approx(8 / 24)
    np.testing.assert_array_equal(human.noisy_labels, noisy[:24])
    synthetic = load_dataset(DataConfig(dataset="cifar100n", root=str(tmp_path), label_set="clean",
                                        noise_rate=0.5, noise="asymmetric"))
    np.testing.assert_array_equal(synthetic.clean_labels, y)
    np.testing.assert_array_equal(synthetic.noisy_labels[synthetic.noisy_labels != y],
                                  (y[synthetic.noisy_labels != y] + 1) % 100)  # label -> label + 1
    per_class = np.bincount(y, minlength=100)
    expected = sum(round(0.5 * c) for c in per_class)  # the documented per-source-class count
    assert synthetic.noise_rate() == pytest.approx(expected / 30)
    assert synthetic.meta["label"] == "cifar100n-clean (asymmetric 50%)"


def test_new_data_fields_keep_earlier_run_hashes() -> None:
    """Run directories made before image_size/cache/test_path existed (when label_set
    defaulted to "worst" for every dataset) keep their data hash, so they still resume."""
    from prune4rel.config import SCHEMA_VERSION, data_key, digest

    def former(**fields):
        base = {"dataset": "digits", "root": None, "path": None, "label_set": "worst",
                "test_set": None, "train_subset": None, "test_subset": None, "noise": "symmetric",
                "noise_rate": None, "seed": 0}
        return digest("data", SCHEMA_VERSION, {**base, **fields})

    assert data_key(DataConfig()) == former()
    assert data_key(DataConfig(dataset="arrays", path="x.npz", noise_rate=0.2)) == former(
        dataset="arrays", path="x.npz", noise_rate=0.2)
    assert data_key(DataConfig(dataset="cifar10n", root="r", label_set="random1")) == former(
        dataset="cifar10n", root="r", label_set="random1")
    # the cache folder is not part of the data's identity; the image size is
    files = {"dataset": "image_csv", "path": "t.csv"}
    assert data_key(DataConfig(**files, cache="a")) == data_key(DataConfig(**files, cache="b"))
    assert data_key(DataConfig(**files, image_size=32)) != data_key(DataConfig(**files))


def test_cifar10n_synthetic_noise_flips_the_clean_labels(shared_data) -> None:
    from prune4rel.data import load_cifar10n, symmetric_noise

    ds = load_dataset(DataConfig(dataset="cifar10n", root=str(shared_data), label_set="clean",
                                 noise_rate=0.4, train_subset=200, test_subset=10))
    clean = load_cifar10n(shared_data, "clean", max_train=200, max_test=10).noisy_labels
    np.testing.assert_array_equal(ds.clean_labels, clean)
    np.testing.assert_array_equal(ds.noisy_labels, symmetric_noise(clean, 0.4, 10, seed=0)[0])
    assert ds.noise_rate() == pytest.approx(0.4)
    assert ds.meta["label"] == "cifar10 (symmetric 40%), first 200"
    assert ds.meta["noise"] == "symmetric" and ds.meta["noise_rate"] == 0.4
