"""Noise models, NoisyDataset validation, loaders and augmentations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from prune4rel.data import (
    CIFAR10_ASYM_MAP,
    FeatureAugment,
    ImageAugment,
    InputPipeline,
    NoisyDataset,
    asymmetric_noise,
    cutout,
    default_augment,
    from_arrays,
    load_cifar10n,
    load_digits_noisy,
    random_crop,
    symmetric_noise,
)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


# ---------------------------------------------------------------- noise
@pytest.mark.parametrize("rate", [0.0, 0.2, 0.4, 0.8, 1.0])
def test_symmetric_noise_rate_and_flips(rate: float) -> None:
    labels = np.repeat(np.arange(10), 100)
    noisy, realised = symmetric_noise(labels, rate, 10, seed=3)
    assert realised == pytest.approx(rate, abs=1e-3)
    assert np.mean(noisy != labels) == pytest.approx(realised)
    assert noisy.min() >= 0 and noisy.max() < 10
    if rate > 0.3:  # wrong labels spread over every other class
        wrong = noisy[noisy != labels] - labels[noisy != labels]
        assert np.unique(wrong % 10).size == 9


def test_symmetric_noise_seeded() -> None:
    labels = np.random.default_rng(0).integers(0, 5, 500)
    a, _ = symmetric_noise(labels, 0.3, 5, seed=1)
    b, _ = symmetric_noise(labels, 0.3, 5, seed=1)
    c, _ = symmetric_noise(labels, 0.3, 5, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_asymmetric_cifar_map_pairs() -> None:
    # hand-written: truck->automobile, bird->airplane, deer->horse, cat<->dog
    assert CIFAR10_ASYM_MAP == {9: 1, 2: 0, 4: 7, 3: 5, 5: 3}
    labels = np.repeat(np.arange(10), 50)
    noisy, realised = asymmetric_noise(labels, 1.0, 10, seed=0)
    expected = {0: 0, 1: 1, 2: 0, 3: 5, 4: 7, 5: 3, 6: 6, 7: 7, 8: 8, 9: 1}
    for c, target in expected.items():
        assert set(noisy[labels == c]) == {target}
    assert realised == pytest.approx(0.5)


def test_asymmetric_rate_next_and_seeded() -> None:
    labels = np.repeat(np.arange(4), 100)
    noisy, realised = asymmetric_noise(labels, 0.4, 4, seed=0)  # C != 10 -> c+1 mod C
    assert realised == pytest.approx(0.4)
    flipped = noisy != labels
    np.testing.assert_array_equal(noisy[flipped], (labels[flipped] + 1) % 4)
    again, _ = asymmetric_noise(labels, 0.4, 4, seed=0)
    np.testing.assert_array_equal(noisy, again)
    custom, _ = asymmetric_noise(labels, 1.0, 4, seed=0, mapping={0: 2})
    assert set(custom[labels == 0]) == {2} and np.array_equal(custom[labels != 0], labels[labels != 0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rate": 1.5}, "rate"),
        ({"labels": np.array([0, 11])}, "labels"),
        ({"num_classes": 1}, "num_classes"),
    ],
)
def test_noise_errors(kwargs: dict, match: str) -> None:
    args = {"labels": np.array([0, 1, 2]), "rate": 0.2, "num_classes": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        symmetric_noise(**args)


def test_asymmetric_bad_mapping() -> None:
    with pytest.raises(ValueError, match="mapping"):
        asymmetric_noise(np.array([0, 1]), 0.5, 3, mapping={0: 0})
    with pytest.raises(ValueError, match="cifar10"):
        asymmetric_noise(np.array([0, 1]), 0.5, 3, mapping="cifar10")


# ---------------------------------------------------------------- dataset
def _tiny(n: int = 6) -> dict:
    rng = np.random.default_rng(0)
    return {
        "x": rng.normal(size=(n, 3)).astype(np.float32),
        "noisy_labels": rng.integers(0, 3, n),
        "x_test": rng.normal(size=(4, 3)).astype(np.float32),
        "y_test": rng.integers(0, 3, 4),
    }


def test_from_arrays_and_properties() -> None:
    parts = _tiny()
    ds = from_arrays(**parts, clean_labels=parts["noisy_labels"])
    assert ds.n == 6 and ds.n_test == 4 and not ds.is_image and ds.input_shape == (3,)
    assert ds.num_classes >= 2 and ds.noise_rate() == 0.0
    mean, std = ds.normalization()
    assert mean.shape == (3,) and np.all(std > 0)


def test_from_arrays_infers_num_classes_from_every_label_array() -> None:
    parts = _tiny()
    parts["noisy_labels"] = np.array([0, 1, 0, 1, 0, 1])
    parts["y_test"] = np.array([0, 4, 0, 1])
    assert from_arrays(**parts).num_classes == 5
    assert from_arrays(**parts, clean_labels=np.array([0, 1, 0, 6, 0, 1])).num_classes == 7
    zeros = {**parts, "noisy_labels": np.zeros(6, int), "y_test": np.zeros(4, int)}
    assert from_arrays(**zeros).num_classes == 2
    with pytest.raises(ValueError, match="cannot infer `num_classes`"):
        from_arrays(**{**parts, "noisy_labels": np.zeros(6)})


def test_noise_rate_over_a_subset() -> None:
    parts = {**_tiny(), "noisy_labels": np.array([0, 1, 2, 0, 1, 2])}
    ds = from_arrays(**parts, clean_labels=np.array([0, 1, 2, 1, 2, 0]), num_classes=3)
    assert ds.noise_rate() == pytest.approx(3 / 6)
    assert ds.noise_rate(np.array([2, 3, 4])) == pytest.approx(2 / 3)
    assert ds.noise_rate(np.array([0, 1])) == 0.0
    assert ds.noise_rate(np.array([], dtype=np.int64)) is None  # no example: no rate
    assert from_arrays(**parts).noise_rate() is None  # no clean labels


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"noisy_labels": np.zeros(5, int)}, "noisy_labels.*length"),
        ({"y_test": np.array([0, 1, 2, 7])}, "y_test.*outside"),
        ({"clean_labels": np.array([0, 1, 2, 3, -1, 0])}, "clean_labels"),
        ({"x_test": np.zeros((4, 5), np.float32)}, "layout"),
        ({"x": np.zeros((6, 4, 4, 1), np.float32)}, "uint8"),
    ],
)
def test_dataset_errors(change: dict, match: str) -> None:
    parts = {**_tiny(), "num_classes": 3, **change}
    with pytest.raises(ValueError, match=match):
        NoisyDataset(**parts)


def test_load_digits_noisy() -> None:
    ds = load_digits_noisy(0.4, seed=0, test_size=0.3)
    assert ds.x.shape[1:] == (8, 8, 1) and ds.x.dtype == np.uint8
    assert ds.n + ds.n_test == 1797 and ds.n_test == 540
    assert ds.noise_rate() == pytest.approx(0.4, abs=1e-3)
    assert ds.test_set.startswith("digits")
    again = load_digits_noisy(0.4, seed=0, test_size=0.3)
    np.testing.assert_array_equal(ds.noisy_labels, again.noisy_labels)


def _write_fake_cifar(root: Path, n: int = 12) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, n)
    x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    np.savez_compressed(
        root / "cifar10.npz", x_train=x, y_train=y,
        x_test_exact1k=x[:5], y_test_exact1k=y[:5], x_test_jpeg=x[:7], y_test_jpeg=y[:7],
    )
    worse, _ = symmetric_noise(y, 0.5, 10, seed=0)
    np.savez_compressed(
        root / "cifar10n_labels.npz", clean_label=y, worse_label=worse, aggre_label=y,
        random_label1=y, random_label2=y, random_label3=y,
    )


def test_load_cifar10n_fixture(tmp_path: Path) -> None:
    _write_fake_cifar(tmp_path)
    ds = load_cifar10n(tmp_path, "worst", "exact1k")
    assert ds.n == 12 and ds.n_test == 5 and ds.noise_rate() == pytest.approx(0.5)
    assert ds.test_set == "cifar10-exact1k"
    head = load_cifar10n(tmp_path, "aggre", "jpeg10k", max_train=4, max_test=3)
    np.testing.assert_array_equal(head.x, ds.x[:4])
    assert head.n_test == 3 and "jpeg10k" in head.test_set


def test_load_cifar10n_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cifar10\.npz.*expected layout"):
        load_cifar10n(tmp_path)
    with pytest.raises(ValueError, match="label_set"):
        load_cifar10n(tmp_path, label_set="nope")
    with pytest.raises(ValueError, match="test"):
        load_cifar10n(tmp_path, test="nope")
    np.savez(tmp_path / "cifar10.npz", x_train=np.zeros((2, 32, 32, 3), np.uint8))
    np.savez(tmp_path / "cifar10n_labels.npz", clean_label=np.zeros(2, int))
    with pytest.raises(ValueError, match="no array 'y_train'"):
        load_cifar10n(tmp_path)


@pytest.mark.realdata
def test_load_cifar10n_real_data_smoke() -> None:
    if not (SHARED_DATA / "cifar10.npz").is_file():
        pytest.skip(f"shared data folder absent: {SHARED_DATA}")
    ds = load_cifar10n(SHARED_DATA, "worst", "exact1k", max_train=16, max_test=8)
    assert ds.x.shape == (16, 32, 32, 3) and ds.x.dtype == np.uint8
    assert ds.n_test == 8 and ds.clean_labels is not None
    assert ds.noisy_labels.min() >= 0 and ds.noisy_labels.max() < 10


# ---------------------------------------------------------------- augmentations
def test_augment_shapes_and_determinism() -> None:
    x = torch.randn(8, 3, 32, 32)
    aug = default_augment((3, 32, 32))
    assert isinstance(aug, ImageAugment) and aug.flip
    a = aug.strong(x, torch.Generator().manual_seed(0))
    b = aug.strong(x, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and torch.equal(a, b)
    assert isinstance(default_augment((1, 8, 8)), ImageAugment)
    assert not default_augment((1, 8, 8)).flip
    assert isinstance(default_augment((5,)), FeatureAugment)


def test_random_crop_is_a_shift() -> None:
    x = torch.arange(2 * 1 * 8 * 8, dtype=torch.float32).reshape(2, 1, 8, 8)
    out = random_crop(x, 2, torch.Generator().manual_seed(1))
    for i in range(2):  # every crop's interior is a shifted window of the original
        found = any(
            torch.equal(out[i, 0, 2:6, 2:6], x[i, 0, 2 + dy : 6 + dy, 2 + dx : 6 + dx])
            for dy in range(-2, 3) for dx in range(-2, 3)
        )
        assert found


def test_cutout_zeroes_a_square() -> None:
    x = torch.ones(4, 3, 16, 16)
    out = cutout(x, 4, torch.Generator().manual_seed(0))
    zeros = (out[:, 0] == 0).sum(dim=(1, 2))
    assert torch.all(zeros > 0) and torch.all(zeros <= 16)


def test_input_pipeline_normalises_images() -> None:
    x = np.full((2, 4, 4, 3), 255, np.uint8)
    pipe = InputPipeline(np.zeros(3), np.full(3, 0.5), True, "cpu")
    out = pipe(pipe.upload(x))
    assert out.shape == (2, 3, 4, 4) and torch.allclose(out, torch.full_like(out, 2.0))


def test_compressed_cifar10_copy_is_used_without_the_full_file(shared_data, tmp_path):
    """A folder with only the 46 MiB WebP copy and the labels loads; test images are exact."""
    import os

    from prune4rel.data import load_cifar10n

    for name in ("cifar10_small_webpq95.npz", "cifar10n_labels.npz"):
        os.symlink(shared_data / name, tmp_path / name)
    ds = load_cifar10n(tmp_path, "worst", max_train=64, max_test=32)
    ref = load_cifar10n(shared_data, "worst", max_train=64, max_test=32)
    assert ds.meta["train_images"].startswith("webp") and ref.meta["train_images"] == "exact"
    np.testing.assert_array_equal(ds.x_test, ref.x_test)
    np.testing.assert_array_equal(ds.noisy_labels, ref.noisy_labels)
    err = np.abs(ds.x.astype(float) - ref.x.astype(float)).mean()
    assert 0 < err < 8  # lossy but close (PSNR about 36 dB)
