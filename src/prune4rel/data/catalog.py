"""The built-in datasets, each one registry entry (see :mod:`prune4rel.data.registry`).

digits (scikit-learn, synthetic noise), CIFAR-10N and CIFAR-100N (human noise), a user
``.npz`` of arrays, and image files: a CSV of paths, WebVision, Clothing-1M, ImageNet and a
Hugging Face image dataset saved with ``save_to_disk``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prune4rel.data.dataset import NoisyDataset, from_arrays
from prune4rel.data.image_files import FileImageDataset
from prune4rel.data.layouts.clothing1m import load_clothing1m
from prune4rel.data.layouts.hf import load_hf_images
from prune4rel.data.layouts.image_csv import index_image_csv
from prune4rel.data.layouts.imagenet import load_imagenet
from prune4rel.data.layouts.webvision import load_webvision
from prune4rel.data.loaders import (
    CIFAR10N_LABEL_SETS,
    CIFAR100N_LABEL_SETS,
    load_cifar10n,
    load_cifar100n,
    load_digits_noisy,
)
from prune4rel.data.registry import DataRequest, DatasetSpec, flip_labels, noise_label, register_dataset

__all__ = ["DEFAULT_IMAGE_SIZE", "DIGITS_DEFAULT_NOISE"]

#: Synthetic noise rate of "digits" when the request sets none.
DIGITS_DEFAULT_NOISE = 0.4
#: Side, in pixels, that image files are decoded at unless the request sets ``image_size``.
DEFAULT_IMAGE_SIZE = 64


def _check_sizes(ds: NoisyDataset, request: DataRequest) -> None:
    for name, want, have in (("data.train_subset", request.train_subset, ds.n),
                             ("data.test_subset", request.test_subset, ds.n_test)):
        if want is not None and want > have:
            raise ValueError(f"`{name}` = {want} exceeds the {have} examples of {ds.name!r}")


def _first(ds: NoisyDataset, request: DataRequest) -> NoisyDataset:
    """The first ``train_subset`` / ``test_subset`` examples of an in-memory dataset."""
    _check_sizes(ds, request)
    n_train, n_test = request.train_subset, request.test_subset
    if n_train is None and n_test is None:
        return ds
    tr = slice(None) if n_train is None else slice(0, n_train)
    te = slice(None) if n_test is None else slice(0, n_test)
    return NoisyDataset(
        x=ds.x[tr], noisy_labels=ds.noisy_labels[tr], x_test=ds.x_test[te], y_test=ds.y_test[te],
        num_classes=ds.num_classes, clean_labels=None if ds.clean_labels is None else ds.clean_labels[tr],
        test_set=ds.test_set + ("" if n_test is None else f" (first {n_test})"), name=ds.name,
        class_names=ds.class_names, meta={**ds.meta, "train_subset": n_train, "test_subset": n_test},
    )


def _digits(request: DataRequest) -> tuple[NoisyDataset, str]:
    rate = DIGITS_DEFAULT_NOISE if request.noise_rate is None else request.noise_rate
    ds = _first(load_digits_noisy(rate, request.seed, noise=request.noise), request)
    return ds, f"digits ({request.noise} {rate:.0%})"


def _cifar10n(request: DataRequest) -> tuple[NoisyDataset, str]:
    ds = load_cifar10n(
        Path(str(request.root)), str(request.label_set), request.test_set or "exact1k",
        max_train=request.train_subset, max_test=request.test_subset,
    )
    _check_sizes(ds, request)
    return ds, "cifar10" if request.noise_rate else ds.name


def _cifar100n(request: DataRequest) -> tuple[NoisyDataset, str]:
    ds = load_cifar100n(
        Path(str(request.root)), str(request.label_set),
        max_train=request.train_subset, max_test=request.test_subset,
    )
    return ds, ds.name


def _arrays(request: DataRequest) -> tuple[NoisyDataset, str]:
    path = Path(str(request.path))
    if not path.is_file():
        raise ValueError(f"`data.path` file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"`data.path` {path} is not a readable .npz file without pickles ({exc})") from None
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in arrays]
    if missing:
        raise ValueError(
            f"`data.path` {path} lacks array(s) {missing}; it needs x_train, y_train (noisy), "
            "x_test, y_test and optionally clean"
        )
    noisy, clean = arrays["y_train"], arrays.get("clean")
    num_classes = max(2, 1 + int(max(np.max(noisy), np.max(arrays["y_test"]),
                                     -1 if clean is None else np.max(clean))))
    label = path.stem
    if request.noise_rate:
        clean = noisy if clean is None else clean
        noisy = flip_labels(np.asarray(clean, dtype=np.int64), request, num_classes)
        label += noise_label(request)
    ds = from_arrays(
        arrays["x_train"], noisy, arrays["x_test"], arrays["y_test"], clean,
        num_classes=num_classes, test_set=f"{path.stem}-test", name=path.stem,
    )
    return _first(ds, request), label


def _image_files(index: FileImageDataset, request: DataRequest) -> tuple[NoisyDataset, str]:
    """Decode an index of image files at the request's size (into its cache, if any)."""
    ds = index.materialize(request.train_subset, request.test_subset, request.image_size, cache=request.cache)
    return ds, f"{ds.name} ({request.image_size}px)"


def _image_csv(request: DataRequest) -> tuple[NoisyDataset, str]:
    index = index_image_csv(str(request.path), request.root, request.test_path, seed=request.seed)
    return _image_files(index, request)


def _webvision(request: DataRequest) -> tuple[NoisyDataset, str]:
    return _image_files(load_webvision(Path(str(request.root))), request)


def _clothing1m(request: DataRequest) -> tuple[NoisyDataset, str]:
    return _image_files(load_clothing1m(Path(str(request.root))), request)


def _imagenet(request: DataRequest) -> tuple[NoisyDataset, str]:
    return _image_files(load_imagenet(Path(str(request.root))), request)


def _hf(request: DataRequest) -> tuple[NoisyDataset, str]:
    ds = load_hf_images(
        str(request.path), image_column=str(request.image_column), label_column=str(request.label_column),
        clean_label_column=request.clean_label_column, test_split=request.test_split,
        test_path=request.test_path, seed=request.seed, image_size=request.image_size,
        max_train=request.train_subset, max_test=request.test_subset, cache=request.cache, progress=True,
    )
    return ds, f"{ds.name} ({request.image_size}px)"


_IMAGE_DEFAULTS = {"image_size": DEFAULT_IMAGE_SIZE}

register_dataset(DatasetSpec("digits", _digits, adds_noise=True))
register_dataset(DatasetSpec(
    "cifar10n", _cifar10n, required={"root": "folder with cifar10.npz"},
    label_sets=tuple(CIFAR10N_LABEL_SETS), test_sets=("exact1k", "jpeg10k"),
    defaults={"label_set": "worst"}, human_noise=True,
))
register_dataset(DatasetSpec(
    "cifar100n", _cifar100n, required={"root": "CIFAR-100 folder"},
    label_sets=tuple(CIFAR100N_LABEL_SETS), defaults={"label_set": "noisy"}, human_noise=True,
))
register_dataset(DatasetSpec("arrays", _arrays, required={"path": "an .npz file"}, adds_noise=True))
register_dataset(DatasetSpec(
    "image_csv", _image_csv, required={"path": "the training CSV"}, defaults=_IMAGE_DEFAULTS,
    image_files=True, extra_fields=("test_path",),
))
register_dataset(DatasetSpec(
    "webvision", _webvision, required={"root": "WebVision folder"}, defaults=_IMAGE_DEFAULTS,
    human_noise=True, image_files=True,
))
register_dataset(DatasetSpec(
    "clothing1m", _clothing1m, required={"root": "Clothing-1M folder"}, defaults=_IMAGE_DEFAULTS,
    human_noise=True, image_files=True,
))
register_dataset(DatasetSpec(
    "imagenet", _imagenet, required={"root": "ImageNet folder"}, defaults=_IMAGE_DEFAULTS, image_files=True,
))
register_dataset(DatasetSpec(
    "hf", _hf, required={"path": "a folder written by datasets' save_to_disk"},
    defaults={**_IMAGE_DEFAULTS, "image_column": "image", "label_column": "label"}, image_files=True,
    extra_fields=("test_path", "image_column", "label_column", "clean_label_column", "test_split"),
))
