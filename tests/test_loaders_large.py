"""CIFAR-100N, CSV image lists and the web-scale layouts (WebVision, Clothing-1M, ImageNet),
on tiny fixture folders written in tmp_path; the CIFAR-10N/100N download paths with a fake
torchvision and a fake label-file download."""

from __future__ import annotations

import sys
import types
import urllib.request
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
from PIL import Image

from prune4rel.data import (
    CIFAR100_CLASSES,
    CLOTHING1M_CLASSES,
    FileImageDataset,
    NoisyDataset,
    decode_image,
    index_image_csv,
    load_cifar10n,
    load_cifar100n,
    load_clothing1m,
    load_image_folder,
    load_imagenet,
    load_webvision,
)


def _img(path: Path, value: int, size: tuple[int, int] = (8, 8)) -> Path:
    """Write a small RGB image (a gradient offset by ``value``); format from the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    arr = (np.add.outer(np.arange(h) * 4, np.arange(w) * 2)[..., None] + value + np.array([0, 30, 60]))
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(path)
    return path


# ---------------------------------------------------------------------------- CIFAR-100N
def _fake_cifar100(root: Path, n: int = 12, m: int = 5, labels: np.ndarray | None = None) -> np.ndarray:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 100, n) if labels is None else labels
    np.savez(
        root / "cifar100.npz",
        x_train=rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
        y_train=y.astype(np.int64),
        x_test=rng.integers(0, 256, (m, 32, 32, 3), dtype=np.uint8),
        y_test=rng.integers(0, 100, m),
    )
    return y


def test_cifar100n_with_fake_images_and_labels(tmp_path: Path) -> None:
    y = _fake_cifar100(tmp_path)
    noisy = (y + (np.arange(12) % 3 == 0)) % 100  # 4 of 12 flipped
    np.savez(tmp_path / "cifar100n_labels.npz", clean_label=y.astype(np.uint8), noisy_label=noisy)
    ds = load_cifar100n(tmp_path)
    assert isinstance(ds, NoisyDataset)
    assert ds.x.shape == (12, 32, 32, 3) and ds.x_test.shape == (5, 32, 32, 3)
    assert ds.num_classes == 100 and len(CIFAR100_CLASSES) == 100
    np.testing.assert_array_equal(ds.noisy_labels, noisy)
    assert ds.noise_rate() == pytest.approx(4 / 12)
    assert ds.test_set == "cifar100-full10k" and ds.name == "cifar100n-noisy"
    clean = load_cifar100n(tmp_path, label_set="clean", max_train=5, max_test=2)
    assert clean.n == 5 and clean.n_test == 2 and clean.noise_rate() == 0.0
    assert clean.test_set == "cifar100-full10k (first 2)"


def test_cifar100n_with_real_label_file(tmp_path: Path, shared_data: Path) -> None:
    real = np.load(shared_data / "cifar100n_labels.npz")
    clean, noisy = real["clean_label"], real["noisy_label"]
    _fake_cifar100(tmp_path, n=20, labels=clean[:20])
    # the real 50,000-row file, read to the length of the (fake, truncated) images
    ds = load_cifar100n(tmp_path, labels_file=shared_data / "cifar100n_labels.npz", max_train=20)
    np.testing.assert_array_equal(ds.noisy_labels, noisy[:20])
    np.testing.assert_array_equal(ds.clean_labels, clean[:20])
    # a truncated copy beside the images
    np.savez(tmp_path / "cifar100n_labels.npz", clean_label=clean[:20], noisy_label=noisy[:20])
    ds2 = load_cifar100n(tmp_path)
    np.testing.assert_array_equal(ds2.noisy_labels, noisy[:20])


def test_cifar100n_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cifar100\.npz"):
        load_cifar100n(tmp_path)
    y = _fake_cifar100(tmp_path)
    with pytest.raises(ValueError, match="label file not found"):
        load_cifar100n(tmp_path)
    wrong = (y + 1) % 100
    np.savez(tmp_path / "cifar100n_labels.npz", clean_label=wrong, noisy_label=wrong)
    with pytest.raises(ValueError, match="disagrees"):
        load_cifar100n(tmp_path)
    np.savez(tmp_path / "cifar100n_labels.npz", clean_label=y[:5], noisy_label=y[:5])
    with pytest.raises(ValueError, match="5 labels but there are 12"):
        load_cifar100n(tmp_path)
    with pytest.raises(ValueError, match="label_set"):
        load_cifar100n(tmp_path, label_set="worst")
    with pytest.raises(ValueError, match="test"):
        load_cifar100n(tmp_path, test="exact1k")
    with pytest.raises(ValueError, match="labels_file"):
        load_cifar100n(tmp_path, labels_file=tmp_path / "nope.npz")


# ---------------------------------------------------------------------------- downloads
class _FakeCifar:
    """Stands in for torchvision's CIFAR10 / CIFAR100: 20 training and 1,200 test images."""

    made: ClassVar[list] = []

    def __init__(self, root: str, train: bool, download: bool) -> None:
        self.made.append((Path(root), train, download))
        n = 20 if train else 1200
        rng = np.random.default_rng(int(train))
        self.data = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        self.targets = list(np.arange(n) % 10)


@pytest.fixture
def fake_downloads(monkeypatch: pytest.MonkeyPatch) -> list:
    """A fake torchvision in sys.modules and a urlretrieve that writes the CIFAR-N label file."""
    datasets = types.ModuleType("torchvision.datasets")
    datasets.CIFAR10 = datasets.CIFAR100 = _FakeCifar  # type: ignore[attr-defined]
    tv = types.ModuleType("torchvision")
    tv.datasets = datasets  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", datasets)
    monkeypatch.setattr(_FakeCifar, "made", [])
    fetched: list = []

    def urlretrieve(url: str, dest: Path) -> None:
        fetched.append(url)
        y = np.arange(20) % 10
        torch.save({"clean_label": y, "worse_label": (y + 1) % 10, "noisy_label": (y + 2) % 10}, dest)

    monkeypatch.setattr(urllib.request, "urlretrieve", urlretrieve)
    return fetched


def test_cifar10n_download_path(tmp_path: Path, fake_downloads: list) -> None:
    root = tmp_path / "new"
    ds = load_cifar10n(root, "worst", "exact1k", download=True, max_train=8)
    assert fake_downloads == [fake_downloads[0]] and fake_downloads[0].endswith("CIFAR-10_human.pt")
    assert (root / "CIFAR-10_human.pt").is_file() and not (root / "CIFAR-10_human.part").exists()
    assert _FakeCifar.made == [(root, True, True), (root, False, True)]
    assert ds.n == 8 and ds.n_test == 1000 and ds.noise_rate() == 1.0
    assert ds.meta["source"] == "torchvision" and ds.test_set == "cifar10-exact1k"
    again = load_cifar10n(root, "clean", "full10k", download=True)
    assert len(fake_downloads) == 1  # the label file is fetched once
    assert again.n == 20 and again.n_test == 1200 and again.noise_rate() == 0.0
    with pytest.raises(ValueError, match="jpeg10k"):
        load_cifar10n(root, test="jpeg10k", download=True)


def test_cifar100n_download_path(tmp_path: Path, fake_downloads: list) -> None:
    ds = load_cifar100n(tmp_path, download=True, max_test=7)
    assert len(fake_downloads) == 1 and fake_downloads[0].endswith("CIFAR-100_human.pt")
    assert ds.n == 20 and ds.n_test == 7 and ds.noise_rate() == 1.0
    assert ds.meta["source"] == "torchvision"
    y = np.arange(20) % 10
    np.savez(tmp_path / "cifar100n_labels.npz", clean_label=y, noisy_label=y)
    assert load_cifar100n(tmp_path, download=True).noise_rate() == 0.0  # the .npz labels win
    assert len(fake_downloads) == 1


def test_download_without_torchvision_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", None)
    with pytest.raises(ValueError, match=r"needs torchvision \(pip install torchvision.*cifar10\.npz"):
        load_cifar10n(tmp_path, download=True)
    with pytest.raises(ValueError, match=r"needs torchvision \(pip install torchvision.*cifar100\.npz"):
        load_cifar100n(tmp_path, download=True)


# ---------------------------------------------------------------------------- CSV image lists
def _csv_fixture(tmp_path: Path) -> Path:
    rows = ["path,label,clean_label"]
    for i in range(6):
        ext = "png" if i % 2 else "jpg"
        _img(tmp_path / "imgs" / f"c{i % 3}" / f"{i}.{ext}", 20 * i)
        rows.append(f"imgs/c{i % 3}/{i}.{ext},{(i + (i == 4)) % 3},{i % 3}")
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    _img(tmp_path / "test" / "t0.png", 5)
    _img(tmp_path / "test" / "t1.png", 9)
    (tmp_path / "test.csv").write_text("path,label\ntest/t0.png,2\ntest/t1.png,1\n")
    return tmp_path / "train.csv"


def test_image_folder_csv(tmp_path: Path) -> None:
    csv_path = _csv_fixture(tmp_path)
    ds = load_image_folder(csv_path, test_csv=tmp_path / "test.csv", workers=2)
    assert ds.x.shape == (6, 8, 8, 3) and ds.x.dtype == np.uint8
    assert ds.x_test.shape == (2, 8, 8, 3)
    np.testing.assert_array_equal(ds.noisy_labels, [0, 1, 2, 0, 2, 2])
    np.testing.assert_array_equal(ds.clean_labels, [0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(ds.y_test, [2, 1])
    assert ds.num_classes == 3 and ds.noise_rate() == pytest.approx(1 / 6)
    # PNG pixels are exact
    np.testing.assert_array_equal(ds.x[1], decode_image(tmp_path / "imgs" / "c1" / "1.png"))
    small = load_image_folder(csv_path, test_csv=tmp_path / "test.csv", image_size=4, mode="L")
    assert small.x.shape == (6, 4, 4, 1)
    rect = load_image_folder(csv_path, test_csv=tmp_path / "test.csv", image_size=(4, 6), max_train=3)
    assert rect.x.shape == (3, 4, 6, 3)


def test_image_folder_holdout_split(tmp_path: Path) -> None:
    csv_path = _csv_fixture(tmp_path)
    a = load_image_folder(csv_path, test_size=0.34, seed=1)
    b = load_image_folder(csv_path, test_size=0.34, seed=1)
    assert a.n == 4 and a.n_test == 2
    np.testing.assert_array_equal(a.x, b.x)
    assert "holdout2-seed1" in a.test_set and "noisylabels" not in a.test_set  # clean labels known


def test_image_folder_errors(tmp_path: Path) -> None:
    csv_path = _csv_fixture(tmp_path)
    with pytest.raises(ValueError, match="CSV file not found"):
        load_image_folder(tmp_path / "none.csv")
    (tmp_path / "bad_header.csv").write_text("file,target\nimgs/c0/0.jpg,0\n")
    with pytest.raises(ValueError, match="'path' and 'label'"):
        load_image_folder(tmp_path / "bad_header.csv")
    (tmp_path / "bad_label.csv").write_text("path,label\nimgs/c0/0.jpg,cat\n")
    with pytest.raises(ValueError, match=r"line 2.*integer"):
        load_image_folder(tmp_path / "bad_label.csv")
    (tmp_path / "neg.csv").write_text("path,label\nimgs/c0/0.jpg,-1\n")
    with pytest.raises(ValueError, match="negative"):
        load_image_folder(tmp_path / "neg.csv")
    (tmp_path / "missing.csv").write_text("path,label\nimgs/c0/0.jpg,0\nimgs/nope.png,1\n")
    with pytest.raises(ValueError, match=r"missing.*nope\.png"):
        load_image_folder(tmp_path / "missing.csv", test_csv=tmp_path / "test.csv")
    _img(tmp_path / "big.png", 0, size=(10, 8))
    (tmp_path / "mixed.csv").write_text("path,label\nimgs/c0/0.jpg,0\nbig.png,1\n")
    with pytest.raises(ValueError, match="image_size"):
        load_image_folder(tmp_path / "mixed.csv", test_csv=tmp_path / "test.csv")
    (tmp_path / "junk.png").write_bytes(b"not an image")
    (tmp_path / "junk.csv").write_text("path,label\nimgs/c0/0.jpg,0\njunk.png,1\n")
    with pytest.raises(ValueError, match=r"cannot read image .*junk\.png"):
        load_image_folder(tmp_path / "junk.csv", test_csv=tmp_path / "test.csv")
    with pytest.raises(ValueError, match="image_size"):
        load_image_folder(csv_path, image_size=0)


# ---------------------------------------------------------------------------- WebVision
def _webvision_fixture(root: Path) -> None:
    info = root / "info"
    info.mkdir(parents=True)
    lines = []
    for i, label in enumerate([0, 1, 49, 50, 999, 1]):
        rel = f"google/q{label + 1:04d}/{i}.jpg"
        _img(root / rel, 10 * i)
        lines.append(f"{rel} {label}")
    (info / "train_filelist_google.txt").write_text("\n".join(lines) + "\n")
    flickr = "flickr/q0003/f0.jpg"
    _img(root / flickr, 3)
    (info / "train_filelist_flickr.txt").write_text(f"{flickr} 2\n")
    val = []
    for j, label in enumerate([0, 60, 49]):
        _img(root / "val_images_256" / f"val{j:06d}.jpg", 7 * j, size=(12, 8))
        val.append(f"val{j:06d}.jpg {label}")
    (info / "val_filelist.txt").write_text("\n".join(val) + "\n")


def test_webvision_first_50_classes(tmp_path: Path) -> None:
    _webvision_fixture(tmp_path)
    ds = load_webvision(tmp_path)
    assert isinstance(ds, FileImageDataset)
    assert ds.n == 4 and ds.n_test == 2  # labels 50, 999 and the val label 60 dropped
    np.testing.assert_array_equal(ds.noisy_labels, [0, 1, 49, 1])
    np.testing.assert_array_equal(ds.y_test, [0, 49])
    assert ds.num_classes == 50 and ds.clean_labels is None
    assert ds.path(0, test=True) == tmp_path / "val_images_256" / "val000000.jpg"
    every = load_webvision(tmp_path, num_classes=1000, sources=("google", "flickr"))
    assert every.n == 7 and every.n_test == 3
    mat = ds.materialize(image_size=8, workers=1, progress=False)
    assert mat.x.shape == (4, 8, 8, 3) and mat.x_test.shape == (2, 8, 8, 3)
    assert mat.test_set == "webvision50-val" and mat.clean_labels is None
    assert load_webvision(tmp_path, max_train=2, max_test=1).n == 2


def test_webvision_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="train_filelist_google"):
        load_webvision(tmp_path)
    _webvision_fixture(tmp_path)
    (tmp_path / "google" / "q0002" / "1.jpg").unlink()
    with pytest.raises(ValueError, match=r"missing.*1\.jpg"):
        load_webvision(tmp_path)
    assert load_webvision(tmp_path, check_files=False).n == 4
    with pytest.raises(ValueError, match="sources"):
        load_webvision(tmp_path, sources=("bing",))
    (tmp_path / "info" / "val_filelist.txt").write_text("val000000.jpg zero\n")
    with pytest.raises(ValueError, match="line 1"):
        load_webvision(tmp_path, check_files=False)


# ---------------------------------------------------------------------------- Clothing-1M
def _clothing_fixture(root: Path) -> None:
    ann = root / "annotations"
    ann.mkdir(parents=True)
    noisy = {f"images/0/0{i}/{i}.jpg": lab for i, lab in enumerate([0, 3, 3, 13, 5, 0])}
    clean = {"images/0/01/1.jpg": 3, "images/0/02/2.jpg": 4, "images/9/9a/t0.jpg": 7, "images/9/9b/t1.jpg": 1}
    for key in [*noisy, "images/9/9a/t0.jpg", "images/9/9b/t1.jpg"]:
        _img(root / key, len(key))
    (ann / "noisy_label_kv.txt").write_text("".join(f"{k} {v}\n" for k, v in noisy.items()))
    (ann / "clean_label_kv.txt").write_text("".join(f"{k} {v}\n" for k, v in clean.items()))
    (ann / "noisy_train_key_list.txt").write_text("\n".join(noisy) + "\n")
    (ann / "clean_test_key_list.txt").write_text("images/9/9a/t0.jpg\nimages/9/9b/t1.jpg\n")


def test_clothing1m(tmp_path: Path) -> None:
    _clothing_fixture(tmp_path)
    ds = load_clothing1m(tmp_path)
    assert ds.n == 6 and ds.n_test == 2 and ds.num_classes == 14
    assert ds.class_names == CLOTHING1M_CLASSES
    np.testing.assert_array_equal(ds.noisy_labels, [0, 3, 3, 13, 5, 0])
    np.testing.assert_array_equal(ds.clean_labels, [-1, 3, 4, -1, -1, -1])
    np.testing.assert_array_equal(ds.y_test, [7, 1])
    np.testing.assert_array_equal(ds.known_clean_indices(), [1, 2])
    assert ds.noise_rate() == pytest.approx(0.5)  # over the rows with a known clean label
    part = ds.materialize(image_size=6, workers=1, progress=False)
    assert part.x.shape == (6, 6, 6, 3) and part.clean_labels is None
    assert part.meta["clean_labels_known"] == 2
    known = ds.materialize(image_size=6, indices=ds.known_clean_indices(), progress=False)
    np.testing.assert_array_equal(known.clean_labels, [3, 4])
    assert known.n == 2 and "(2 of 6)" in known.name
    bal = ds.balanced_indices(per_class=1, seed=0)
    assert len(bal) == 4 and len(set(ds.noisy_labels[bal])) == 4


def test_clothing1m_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="noisy_label_kv"):
        load_clothing1m(tmp_path)
    _clothing_fixture(tmp_path)
    with pytest.raises(ValueError, match="clean_val_key_list"):
        load_clothing1m(tmp_path, test="clean_val")
    with pytest.raises(ValueError, match="test"):
        load_clothing1m(tmp_path, test="noisy")
    ann = tmp_path / "annotations"
    (ann / "noisy_train_key_list.txt").write_text("images/0/00/0.jpg\nimages/x/unknown.jpg\n")
    with pytest.raises(ValueError, match="no label"):
        load_clothing1m(tmp_path)
    (ann / "noisy_train_key_list.txt").write_text("images/0/00/0.jpg\n")
    (tmp_path / "images" / "0" / "00" / "0.jpg").unlink()
    with pytest.raises(ValueError, match="missing"):
        load_clothing1m(tmp_path)


# ---------------------------------------------------------------------------- ImageNet
def _imagenet_fixture(root: Path) -> None:
    for k, wnid in enumerate(["n03", "n01", "n02"]):
        for i in range(2 + k):
            _img(root / "train" / wnid / f"{wnid}_{i}.JPEG", 10 * i + k, size=(10, 8))
        _img(root / "val" / wnid / f"v_{wnid}.JPEG", k)
    (root / "train" / "n01" / "notes.txt").write_text("not an image")


def test_imagenet_layout(tmp_path: Path) -> None:
    _imagenet_fixture(tmp_path)
    ds = load_imagenet(tmp_path)
    assert ds.class_names == ("n01", "n02", "n03")
    assert ds.n == 9 and ds.n_test == 3  # n01: 3, n02: 4, n03: 2 images; the .txt is skipped
    np.testing.assert_array_equal(ds.noisy_labels, [0, 0, 0, 1, 1, 1, 1, 2, 2])
    np.testing.assert_array_equal(ds.y_test, [0, 1, 2])
    assert ds.noise_rate() == 0.0
    assert str(ds.paths[0]) == "train/n01/n01_0.JPEG"
    sub = load_imagenet(tmp_path, num_classes=2, max_test=1)
    assert sub.num_classes == 2 and sub.n == 7 and sub.n_test == 1
    mat = ds.materialize(max_train=4, image_size=(5, 5), progress=False)
    assert mat.x.shape == (4, 5, 5, 3) and mat.clean_labels is not None
    noisy = ds.with_labels((ds.noisy_labels + 1) % 3, noise="shift")
    assert noisy.noise_rate() == 1.0 and noisy.meta["noise"] == "shift"


def test_imagenet_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="train"):
        load_imagenet(tmp_path)
    _imagenet_fixture(tmp_path)
    flat = tmp_path / "flat"
    (flat / "train").mkdir(parents=True)
    for w in ("n01", "n02"):
        _img(flat / "train" / w / "a.JPEG", 0)
    _img(flat / "val" / "ILSVRC2012_val_00000001.JPEG", 0)
    with pytest.raises(ValueError, match="valprep"):
        load_imagenet(flat)
    with pytest.raises(ValueError, match="num_classes"):
        load_imagenet(tmp_path, num_classes=5)


def test_file_index_validation_and_memory_guard(tmp_path: Path) -> None:
    _imagenet_fixture(tmp_path)
    ds = load_imagenet(tmp_path)
    with pytest.raises(ValueError, match="max_bytes"):
        ds.materialize(image_size=8, max_bytes=100, progress=False)
    with pytest.raises(ValueError, match="indices"):
        ds.materialize(indices=np.array([0, 99]), progress=False)
    with pytest.raises(ValueError, match="noisy_labels"):
        FileImageDataset(tmp_path, ["a"], np.array([3]), ["b"], np.array([0]), num_classes=3)
    imgs = ds.load_images(np.array([2, 0]), image_size=4)
    assert imgs.shape == (2, 4, 4, 3)


def test_index_image_csv_is_lazy(tmp_path: Path) -> None:
    csv_path = _csv_fixture(tmp_path)
    idx = index_image_csv(csv_path, test_csv=tmp_path / "test.csv")
    assert isinstance(idx, FileImageDataset) and idx.n == 6
    assert idx.path(0) == tmp_path / "imgs" / "c0" / "0.jpg"


def test_noise_rate_leaves_out_unknown_clean_labels(tmp_path: Path) -> None:
    def index(clean: np.ndarray | None) -> FileImageDataset:
        return FileImageDataset(
            tmp_path, ["a", "b", "c", "d"], np.array([0, 1, 0, 0]), ["t"], np.array([0]),
            num_classes=2, clean_labels=clean,
        )

    ds = index(np.array([0, -1, 1, -1]))  # rows 1 and 3 unknown; row 2 wrong
    assert ds.noise_rate() == pytest.approx(0.5)
    assert ds.noise_rate(np.array([2, 3])) == 1.0
    assert ds.noise_rate(np.array([1, 3])) is None
    assert index(None).noise_rate() is None
    assert "noise=50.0%" in repr(ds)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_row_limits_are_checked_alike_everywhere(tmp_path: Path, bad: object) -> None:
    ds = FileImageDataset(tmp_path, ["a"], np.array([0]), ["t"], np.array([1]), num_classes=2)
    calls = [
        lambda: load_cifar10n(tmp_path, max_test=bad),
        lambda: load_cifar100n(tmp_path, max_train=bad),
        lambda: load_image_folder(tmp_path / "x.csv", max_test=bad),
        lambda: load_webvision(tmp_path, max_train=bad),
        lambda: load_clothing1m(tmp_path, max_test=bad),
        lambda: load_imagenet(tmp_path, max_train=bad),
        lambda: ds.materialize(max_train=bad, progress=False),
        lambda: ds.load_images(np.array([0]), workers=bad),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=r"must be a positive integer or None, got"):
            call()


@pytest.mark.parametrize(
    ("num_classes", "names", "match"),
    [(True, None, "must be an integer"), (2.5, None, "must be an integer"),
     (1, None, ">= 2"), (2, ("a", "b", "c"), "3 names for 2 classes")],
)
def test_both_dataset_classes_check_classes_alike(
    tmp_path: Path, num_classes: object, names: tuple | None, match: str
) -> None:
    x = np.zeros((1, 2, 2, 1), np.uint8)
    with pytest.raises(ValueError, match=match):
        NoisyDataset(x, np.array([0]), x, np.array([0]), num_classes, class_names=names)
    with pytest.raises(ValueError, match=match):
        FileImageDataset(tmp_path, ["a"], np.array([0]), ["t"], np.array([0]), num_classes,
                         class_names=names)
