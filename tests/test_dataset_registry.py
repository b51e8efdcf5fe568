"""The dataset registry: built-in declarations, a new dataset as one entry, lookups and errors."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from prune4rel.config import DataConfig
from prune4rel.data import (
    DatasetSpec,
    NoisyDataset,
    dataset_names,
    dataset_spec,
    load_dataset,
    register_dataset,
    registered_datasets,
)
from prune4rel.data import registry as registry_module

N = 40


def test_builtin_declarations():
    assert dataset_names() == (
        "digits", "cifar10n", "cifar100n", "arrays", "image_csv", "webvision", "clothing1m", "imagenet", "hf"
    )
    specs = registered_datasets()
    assert {s.name for s in specs if s.human_noise} == {"cifar10n", "cifar100n", "webvision", "clothing1m"}
    image_sets = {"image_csv", "webvision", "clothing1m", "imagenet", "hf"}
    assert {s.name for s in specs if s.image_files} == image_sets
    assert {s.name: dict(s.required) for s in specs if s.required} == {
        "cifar10n": {"root": "folder with cifar10.npz"}, "cifar100n": {"root": "CIFAR-100 folder"},
        "arrays": {"path": "an .npz file"}, "image_csv": {"path": "the training CSV"},
        "webvision": {"root": "WebVision folder"}, "clothing1m": {"root": "Clothing-1M folder"},
        "imagenet": {"root": "ImageNet folder"}, "hf": {"path": "a folder written by datasets' save_to_disk"},
    }
    assert dataset_spec("cifar10n").label_sets == ("worst", "aggre", "random1", "random2", "random3", "clean")
    assert dataset_spec("cifar100n").label_sets == ("noisy", "clean")
    assert dataset_spec("cifar10n").test_sets == ("exact1k", "jpeg10k")
    assert [s.name for s in specs if s.test_sets] == ["cifar10n"]
    assert [s.name for s in specs if s.extra_fields] == ["image_csv", "hf"]


def test_unknown_and_duplicate_names():
    with pytest.raises(ValueError, match=r"unknown dataset 'mnist'; available: digits, cifar10n"):
        dataset_spec("mnist")
    with pytest.raises(ValueError, match="'digits' is already registered"):
        register_dataset(DatasetSpec("digits", dataset_spec("arrays").loader))
    assert register_dataset(dataset_spec("digits")) is dataset_spec("digits")  # the same entry again


def _toy_loader(calls: list):
    """A loader of N blobs whose given labels differ from the clean ones on every 4th example."""

    def load(request) -> tuple[NoisyDataset, str]:
        calls.append(request)
        rng = np.random.default_rng(0)
        clean = np.arange(N) % 2
        given = np.where(np.arange(N) % 4 == 0, 1 - clean, clean) if request.label_set == "noisy" else clean
        n = request.train_subset or N
        ds = NoisyDataset(
            x=rng.normal(size=(n, 3)).astype(np.float32), noisy_labels=given[:n], x_test=np.zeros((2, 3)),
            y_test=np.array([0, 1]), num_classes=2, clean_labels=clean[:n], name="toy",
        )
        return ds, f"toy/{request.label_set}"

    return load


@pytest.fixture
def toy(monkeypatch):
    """A dataset registered for one test (the registry is restored afterwards)."""
    monkeypatch.setattr(registry_module, "_REGISTRY", registry_module._REGISTRY.copy())
    calls: list = []
    register_dataset(DatasetSpec(
        "toy", _toy_loader(calls), required={"root": "the toy folder"}, label_sets=("noisy", "clean"),
        defaults={"label_set": "noisy"}, human_noise=True,
    ))
    return calls


def test_a_new_dataset_is_one_registry_entry(toy):
    with pytest.raises(ValueError, match=r"`data.root` is required for dataset 'toy' \(the toy folder\)"):
        DataConfig(dataset="toy")
    config = DataConfig(dataset="toy", root="r", train_subset=20)
    assert config.label_set == "noisy"  # the declared default is filled in
    ds = load_dataset(config)
    assert toy == [config] and ds.n == 20
    assert ds.noise_rate() == pytest.approx(5 / 20)
    assert ds.meta["label"] == "toy/noisy, first 20"
    with pytest.raises(ValueError, match=r"`data.label_set` must be one of 'noisy', 'clean', got 'worst'"):
        DataConfig(dataset="toy", root="r", label_set="worst")
    with pytest.raises(ValueError, match="label_set 'noisy' already holds human noise"):
        DataConfig(dataset="toy", root="r", noise_rate=0.2)
    with pytest.raises(ValueError, match=r"`data.image_size` applies to the image-file datasets"):
        DataConfig(dataset="toy", root="r", image_size=32)
    # the other datasets' messages name it among those with label sets
    with pytest.raises(ValueError, match="datasets 'cifar10n', 'cifar100n' and 'toy' only"):
        DataConfig(dataset="digits", label_set="noisy")


def test_synthetic_noise_is_added_to_the_clean_labels(toy):
    ds = load_dataset(DataConfig(dataset="toy", root="r", label_set="clean", noise_rate=0.5, seed=3))
    np.testing.assert_array_equal(ds.clean_labels, np.arange(N) % 2)
    assert ds.noise_rate() == pytest.approx(0.5, abs=0.15)  # symmetric: each flip is to another class
    assert ds.meta["label"] == "toy/clean (symmetric 50%)"
    assert (ds.meta["noise"], ds.meta["noise_rate"]) == ("symmetric", 0.5)
    again = load_dataset(DataConfig(dataset="toy", root="r", label_set="clean", noise_rate=0.5, seed=3))
    np.testing.assert_array_equal(again.noisy_labels, ds.noisy_labels)  # seeded by data.seed


def test_loaders_take_any_request_with_the_data_fields():
    fields = {f: None for f in ("root", "path", "label_set", "test_set", "train_subset", "test_subset",
                                "noise_rate", "image_size", "cache", "test_path")}
    request = SimpleNamespace(**{**fields, "dataset": "digits", "noise": "symmetric", "seed": 0,
                                 "train_subset": 50, "noise_rate": 0.2})
    ds = load_dataset(request)
    assert ds.n == 50 and ds.meta["label"] == "digits (symmetric 20%), first 50"
    assert ds.meta["label"] == load_dataset(DataConfig(train_subset=50, noise_rate=0.2)).meta["label"]
