"""The dataset registry: what each dataset needs and how it loads.

Each dataset is one :class:`DatasetSpec` (its name, the fields it requires, its label and
test sets, defaults, whether its labels are human noise or it reads image files, and its
loader), registered with :func:`register_dataset`; the built-in ones are in
:mod:`prune4rel.data.catalog`. :func:`load_dataset` looks the dataset up and adds what every
dataset shares: synthetic noise on the clean labels and the report label. A run
configuration's ``data`` section validates itself against these declarations.

Loaders read a :class:`DataRequest`: any object with the ``data`` section's fields (a
:class:`~prune4rel.config.DataConfig` is one), so this layer does not import the configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from prune4rel.data.dataset import NoisyDataset
from prune4rel.data.noise import asymmetric_noise, symmetric_noise
from prune4rel.registry import Registry

__all__ = [
    "DataRequest",
    "DatasetSpec",
    "dataset_names",
    "dataset_spec",
    "flip_labels",
    "load_dataset",
    "noise_label",
    "register_dataset",
    "registered_datasets",
]


class DataRequest(Protocol):
    """The fields of a run's ``data`` section that loaders read (see ``DataConfig``)."""

    @property
    def dataset(self) -> str: ...
    @property
    def root(self) -> str | None: ...
    @property
    def path(self) -> str | None: ...
    @property
    def label_set(self) -> str | None: ...
    @property
    def test_set(self) -> str | None: ...
    @property
    def train_subset(self) -> int | None: ...
    @property
    def test_subset(self) -> int | None: ...
    @property
    def noise(self) -> str: ...
    @property
    def noise_rate(self) -> float | None: ...
    @property
    def seed(self) -> int: ...
    @property
    def image_size(self) -> int | None: ...
    @property
    def cache(self) -> str | None: ...
    @property
    def test_path(self) -> str | None: ...
    @property
    def image_column(self) -> str | None: ...
    @property
    def label_column(self) -> str | None: ...
    @property
    def clean_label_column(self) -> str | None: ...
    @property
    def test_split(self) -> str | None: ...


#: A loader: the dataset a request describes, and its report label (name and noise).
Loader = Callable[[DataRequest], tuple[NoisyDataset, str]]


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset as the registry knows it.

    Parameters
    ----------
    name : str
        Registry name (the ``data.dataset`` value).
    loader : callable
        ``loader(request) -> (NoisyDataset, label)``; it honours ``train_subset`` /
        ``test_subset`` and, when ``adds_noise``, the synthetic noise.
    required : mapping of str to str
        Fields the dataset cannot load without, each to what it names (e.g. ``{"root":
        "WebVision folder"}``).
    label_sets : tuple of str
        The label sets it offers (empty: ``label_set`` must stay unset).
    test_sets : tuple of str
        The test sets it offers (empty: ``test_set`` must stay unset); the loader's default
        is the first.
    defaults : mapping of str to object
        Values filled into the configuration for fields left unset (e.g. the label set or
        the image size). They are recorded in ``config.yaml`` and the run hashes; a loader's
        own fallbacks (digits' 40% noise, CIFAR-10's first test set) are not, so that run
        directories written before stay resumable.
    human_noise : bool
        Whether its given labels are human noise (synthetic noise then needs the "clean"
        label set).
    image_files : bool
        Whether it decodes image files (``image_size`` and ``cache`` apply).
    extra_fields : tuple of str
        Optional fields that only this dataset takes (e.g. ``test_path``).
    adds_noise : bool
        Whether the loader applies the synthetic noise itself (and names it in its label).
    """

    name: str
    loader: Loader
    required: Mapping[str, str] = field(default_factory=dict)
    label_sets: tuple[str, ...] = ()
    test_sets: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    human_noise: bool = False
    image_files: bool = False
    extra_fields: tuple[str, ...] = ()
    adds_noise: bool = False


_REGISTRY: Registry[DatasetSpec] = Registry("dataset", "dataset", fold=False, sort=False)


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add ``spec`` to the registry under ``spec.name`` and return it.

    Raises
    ------
    ValueError
        When another dataset is registered under that name.
    """
    return _REGISTRY.add(spec.name, spec)


def dataset_names() -> tuple[str, ...]:
    """Registered dataset names, in registration order."""
    return tuple(_REGISTRY.names())


def registered_datasets() -> tuple[DatasetSpec, ...]:
    """Every registered :class:`DatasetSpec`, in registration order."""
    return tuple(_REGISTRY.values())


def dataset_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` registered as ``name``.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the registered ones.
    """
    return _REGISTRY.lookup(name)


def noise_label(request: DataRequest) -> str:
    """The report label's synthetic-noise part, e.g. ``" (symmetric 40%)"``."""
    return f" ({request.noise} {float(request.noise_rate or 0.0):.0%})"


def flip_labels(clean: np.ndarray, request: DataRequest, num_classes: int) -> np.ndarray:
    """``clean`` with the request's synthetic noise (kind, rate, seed) applied."""
    rate = float(request.noise_rate or 0.0)
    if request.noise == "symmetric":
        return symmetric_noise(clean, rate, num_classes, seed=request.seed)[0]
    return asymmetric_noise(clean, rate, num_classes, seed=request.seed)[0]


def load_dataset(request: DataRequest) -> NoisyDataset:
    """Load the dataset a request (e.g. a ``DataConfig``) describes, seeded by its ``seed``.

    Returns
    -------
    NoisyDataset
        With ``meta["label"]``, a short description used in reports (name and noise).

    Raises
    ------
    ValueError
        For an unknown dataset, unreadable files, or subsets larger than the dataset.
    """
    spec = dataset_spec(request.dataset)
    ds, label = spec.loader(request)
    if request.noise_rate and not spec.adds_noise:
        # flip the clean labels (where none are known, the given ones are taken as the truth)
        clean = ds.noisy_labels if ds.clean_labels is None else ds.clean_labels
        ds = replace(
            ds, noisy_labels=flip_labels(clean, request, ds.num_classes), clean_labels=clean,
            meta={**ds.meta, "noise": request.noise, "noise_rate": request.noise_rate},
        )
        label += noise_label(request)
    if request.train_subset is not None:
        label += f", first {request.train_subset}"
    ds.meta["label"] = label
    return ds
