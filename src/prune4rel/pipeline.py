"""One experiment run: configuration, run directory, resume.

A run warms a network up on the noisy training set once, turns it into
:class:`~prune4rel.signals.Signals`, lets every configured selector pick a subset at every
configured fraction, and trains a learner on each subset. Everything goes into one run
directory, each file written atomically (see :mod:`prune4rel._io`)::

    run_dir/config.yaml                      the resolved configuration
    run_dir/signals.npz                      warm-up Signals (shared by all selections)
    run_dir/ckpt_warmup.pt                   per-epoch warm-up checkpoint, deleted once the
                                             Signals are written
    run_dir/subset_<method>_<fraction>.npy   selected dataset indices, pick order
    run_dir/subset_<method>_<fraction>.json  its provenance (config hash, seconds, noise, and the
                                             selector's own scalar facts, e.g. the tau used)
    run_dir/metrics_<method>_<fraction>.jsonl  one line per training epoch
    run_dir/result_<method>_<fraction>.json  the final result (keys: :data:`RESULT_KEYS`)
    run_dir/ckpt_<method>_<fraction>.pt      per-epoch checkpoint, deleted once the result
                                             is written

Fraction ``1.0`` is the full-data reference: no warm-up or selection is needed, and it is
trained once under the method name ``"full"``, whatever the configured methods.

Resume
------
Every stage output stores a hash of the configuration it depends on (the data, the warm-up,
the selector and its parameters, the training settings and the seed; not the device nor
the progress flag). With ``resume=True`` a stage whose output exists and carries the same
hash is skipped; an output with another hash is recomputed and overwritten. An interrupted
warm-up or training continues from its last per-epoch checkpoint (network, optimizers,
per-example learner state, RNG states, and the warm-up's recorded histories or the
training's metrics so far) and, on CPU, ends bit-identical to an uninterrupted run (the
same Signals, subsets and results). On CUDA the same holds under
``torch.use_deterministic_algorithms(True)`` (with ``CUBLAS_WORKSPACE_CONFIG=:4096:8``;
checked on an H200); without it, GPU kernels make even two uninterrupted runs differ
slightly. A checkpoint or stage output that cannot be read (corrupt, truncated, another
format), and a checkpoint of another configuration or whose state does not fit, is
**redone**, with a :class:`ResumeWarning`: every write is atomic, so such a file was
damaged or left from outside and recomputing is always correct. A run directory holds one
data / warm-up / seed setting; pointing a run with another one at it is an error unless
``resume=False``, which first deletes that run's files.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import numbers
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
import yaml
from tqdm.auto import tqdm

from prune4rel._io import ResumeWarning, atomic_path, atomic_save_npy, atomic_write_json, atomic_write_text
from prune4rel.data import (
    CIFAR10N_LABEL_SETS,
    CIFAR100N_LABEL_SETS,
    FileImageDataset,
    NoisyDataset,
    asymmetric_noise,
    from_arrays,
    index_image_csv,
    load_cifar10n,
    load_cifar100n,
    load_clothing1m,
    load_digits_noisy,
    load_imagenet,
    load_webvision,
    symmetric_noise,
)
from prune4rel.learners import LEARNERS, Callback, EpochRecorder, Learner, LearnerStateError, get_learner
from prune4rel.models import MODEL_NAMES
from prune4rel.selection import get_selector
from prune4rel.selection.base import selector_class
from prune4rel.signals import Signals, SignalsFileError
from prune4rel.warmup import warmup as run_warmup_training

__all__ = [
    "FULL_METHOD",
    "RESULT_KEYS",
    "DataConfig",
    "ResumeWarning",
    "RunConfig",
    "SelectionConfig",
    "TrainConfig",
    "WarmupConfig",
    "load_dataset",
    "resolve_device",
    "run_experiment",
]

#: Method name of the full-data reference (fraction 1.0).
FULL_METHOD = "full"
RESULT_FORMAT = "prune4rel.result"
CHECKPOINT_FORMAT = "prune4rel.checkpoint"
SCHEMA_VERSION = 1
#: Keys of every ``result_<method>_<fraction>.json``.
RESULT_KEYS = (
    "format", "schema_version", "config_hash", "method", "params", "fraction", "subset_size",
    "n_train", "subset_noise_rate", "train_noise_rate", "test_acc_last", "test_acc_best",
    "best_epoch", "relabel_acc", "test_set", "dataset", "learner", "learner_params", "epochs",
    "warmup_epochs", "seconds", "device", "seed", "data_seed",
)
DATASETS = ("digits", "cifar10n", "cifar100n", "arrays", "image_csv", "webvision", "clothing1m", "imagenet")
#: Datasets of image files, decoded by :meth:`FileImageDataset.materialize`.
FILE_DATASETS = ("image_csv", "webvision", "clothing1m", "imagenet")
#: Datasets whose given labels are human noise (synthetic noise only on their clean labels).
_HUMAN_NOISE = ("cifar10n", "cifar100n", "webvision", "clothing1m")
#: DataConfig fields added after the first schema: hashed only when set, so that earlier run
#: directories stay resumable.
_LATER_DATA_FIELDS = ("image_size", "cache", "test_path")
_DEFAULT_IMAGE_SIZE = 64
#: dataset -> (the DataConfig field it requires, what that field names)
_REQUIRED = {
    "cifar10n": ("root", "folder with cifar10.npz"), "cifar100n": ("root", "CIFAR-100 folder"),
    "arrays": ("path", "an .npz file"), "image_csv": ("path", "the training CSV"),
    "webvision": ("root", "WebVision folder"), "clothing1m": ("root", "Clothing-1M folder"),
    "imagenet": ("root", "ImageNet folder"),
}
TEST_SETS = ("exact1k", "jpeg10k")
NOISE_KINDS = ("symmetric", "asymmetric")
_MODELS = ("auto", *MODEL_NAMES)
_RESERVED_LEARNER_PARAMS = ("model", "seed", "device")
_DIGITS_DEFAULT_NOISE = 0.4


# ---------------------------------------------------------------------- validation helpers
def _int(name: str, value: Any, low: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok and isinstance(value, float) and value.is_integer():
        ok, value = True, int(value)
    if not ok or int(value) < low:
        what = f"an integer >= {low}" + (" or null" if allow_none else "")
        raise ValueError(f"`{name}` must be {what}, got {value!r}")
    return int(value)


def _choice(name: str, value: Any, options: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"`{name}` must be one of {list(options)}, got {value!r}")
    return value


def _params(name: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"`{name}` must be a mapping of parameter names to values, got {value!r}")
    return dict(value)


def _str_list(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"`{name}` must be a list of names (or a comma-separated string), got {value!r}")
    out = tuple(v.strip() for v in value if v.strip())
    if not out:
        raise ValueError(f"`{name}` must name at least one entry, got {value!r}")
    return out


def _model(name: str, value: Any) -> str:
    if not isinstance(value, str) or value.lower().replace("-", "_") not in (*_MODELS, "cnn", "smallcnn"):
        raise ValueError(f"`{name}` must be one of {list(_MODELS)}, got {value!r}")
    return value


def _learner_name(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"`{name}` must be a learner name, got {value!r}; available: {sorted(LEARNERS)}")
    try:
        get_learner(value)  # cheap: no network is built before fit
    except ValueError as exc:
        raise ValueError(f"`{name}`: {exc}") from None
    return value


def _check_learner_params(name: str, learner: str, model: str, params: dict[str, Any]) -> None:
    """Instantiate the learner once (no network is built) to validate its parameters."""
    reserved = sorted(set(params) & set(_RESERVED_LEARNER_PARAMS))
    if reserved:
        raise ValueError(
            f"`{name}` must not set {reserved}: use the config's `model`, `seed` and `device` fields"
        )
    try:
        get_learner(learner, model=model, device="cpu", seed=0, **params)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"`{name}` (learner {learner!r}): {exc}") from None


# ---------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class DataConfig:
    """Which noisy training set and test set to use.

    Parameters
    ----------
    dataset : {"digits", "cifar10n", "cifar100n", "arrays", "image_csv", "webvision", \
"clothing1m", "imagenet"}
        scikit-learn's digits with synthetic noise; CIFAR-10 with CIFAR-10N human labels;
        CIFAR-100 with CIFAR-100N labels; a user ``.npz`` file (see ``path``); or image
        files: a CSV of (path, label[, clean_label]) rows, or WebVision (first 50 classes of
        the Google subset), Clothing-1M or ImageNet-1K in their standard layouts (see
        :mod:`prune4rel.data.files`), decoded at ``image_size``.
    root : str, optional
        The dataset's folder: CIFAR-10N (``cifar10.npz`` and ``cifar10n_labels.npz``),
        CIFAR-100N (see :func:`~prune4rel.data.load_cifar100n`), WebVision, Clothing-1M or
        ImageNet (required for these); for "image_csv", the folder relative image paths are
        resolved against (default: the CSV's folder).
    path : str, optional
        For "arrays": an ``.npz`` with ``x_train``, ``y_train`` (noisy), ``x_test``,
        ``y_test`` and optionally ``clean`` (true training labels). For "image_csv": the
        training CSV.
    test_path : str, optional
        For "image_csv": a test CSV; without it a seeded 20% of the rows are held out.
    label_set : str, optional
        CIFAR-10N label set ("worst" by default, "aggre", "random1", "random2", "random3",
        "clean") or CIFAR-100N ("noisy" by default, "clean"); unset for other datasets.
    test_set : {"exact1k", "jpeg10k"}, optional
        CIFAR-10 test set (default "exact1k"); must stay unset for the other datasets.
    train_subset, test_subset : int, optional
        Keep only the first N training / test examples (for CPU runs). The digits split is
        already seeded-shuffled and CIFAR-10 is in random order, so the first N are a
        random sample.
    noise : {"symmetric", "asymmetric"}
        Synthetic noise model, for datasets without human noise.
    noise_rate : float, optional
        Synthetic noise rate in [0, 1). Default: 0.4 for digits, none otherwise. For
        "arrays" it flips ``clean`` (or ``y_train`` when there is no ``clean``); for
        CIFAR-10N only with ``label_set="clean"``.
    seed : int
        Seeds the digits train/test split, the "image_csv" hold-out split and the
        synthetic noise. Kept apart from the run's ``seed`` so that runs with several seeds
        share one dataset and test set (their spread is the training randomness); set it
        per run to vary the data too.
    image_size : int, optional
        Image files only: the short side is resized to this and centre-cropped to a
        square (default 64).
    cache : str, optional
        Image files only: decode into memory-mapped ``.npy`` files in this folder
        (resumable, reused across runs) instead of RAM; the learners then stream batches
        from it. Needed when the decoded set exceeds 16 GiB.
    """

    dataset: str = "digits"
    root: str | None = None
    path: str | None = None
    label_set: str | None = None
    test_set: str | None = None
    train_subset: int | None = None
    test_subset: int | None = None
    noise: str = "symmetric"
    noise_rate: float | None = None
    seed: int = 0
    image_size: int | None = None
    cache: str | None = None
    test_path: str | None = None

    def __post_init__(self) -> None:
        _choice("data.dataset", self.dataset, DATASETS)
        object.__setattr__(self, "seed", _int("data.seed", self.seed, 0))
        label_sets = {
            "cifar10n": ("worst", CIFAR10N_LABEL_SETS), "cifar100n": ("noisy", CIFAR100N_LABEL_SETS),
        }
        if self.dataset in label_sets:
            default, options = label_sets[self.dataset]
            object.__setattr__(self, "label_set", self.label_set or default)
            _choice("data.label_set", self.label_set, tuple(options))
        elif self.label_set is not None:
            raise ValueError(
                f"`data.label_set` applies to datasets 'cifar10n' and 'cifar100n' only, got "
                f"{self.label_set!r} for {self.dataset!r}"
            )
        _choice("data.noise", self.noise, NOISE_KINDS)
        for key in ("train_subset", "test_subset"):
            object.__setattr__(self, key, _int(f"data.{key}", getattr(self, key), 1, allow_none=True))
        for key in ("root", "path", "cache", "test_path"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, (str, Path)):
                raise ValueError(f"`data.{key}` must be a path, got {value!r}")
            if value is not None:
                object.__setattr__(self, key, str(value))
        rate = self.noise_rate
        if rate is not None:
            ok = isinstance(rate, numbers.Real) and not isinstance(rate, bool) and math.isfinite(rate)
            if not ok or not 0.0 <= float(rate) < 1.0:
                raise ValueError(f"`data.noise_rate` must be a number in [0, 1) or null, got {rate!r}")
            object.__setattr__(self, "noise_rate", float(rate))
        if self.dataset == "cifar10n" and self.test_set is not None:
            _choice("data.test_set", self.test_set, TEST_SETS)
        elif self.test_set is not None:
            raise ValueError(
                f"`data.test_set` applies to dataset 'cifar10n' only, got {self.test_set!r} "
                f"for {self.dataset!r}"
            )
        if self.noise_rate and self.dataset in _HUMAN_NOISE and self.label_set != "clean":
            what = f"label_set {self.label_set!r}" if self.label_set else f"dataset {self.dataset!r}"
            hint = "; use label_set 'clean' for synthetic noise" if self.label_set else ""
            raise ValueError(
                f"`data.noise_rate` = {self.noise_rate} adds synthetic noise, but {what} already "
                f"holds human noise{hint}"
            )
        if self.dataset in _REQUIRED and getattr(self, _REQUIRED[self.dataset][0]) is None:
            key, what = _REQUIRED[self.dataset]
            raise ValueError(f"`data.{key}` is required for dataset {self.dataset!r} ({what})")
        if self.dataset in FILE_DATASETS:
            size = _DEFAULT_IMAGE_SIZE if self.image_size is None else self.image_size
            object.__setattr__(self, "image_size", _int("data.image_size", size, 1))
        else:
            for key in ("image_size", "cache"):
                if getattr(self, key) is not None:
                    raise ValueError(
                        f"`data.{key}` applies to the image-file datasets {FILE_DATASETS} only, "
                        f"got {getattr(self, key)!r} for {self.dataset!r}"
                    )
        if self.test_path is not None and self.dataset != "image_csv":
            raise ValueError(f"`data.test_path` applies to dataset 'image_csv' only, not {self.dataset!r}")


@dataclass(frozen=True)
class WarmupConfig:
    """The warm-up training that produces the Signals.

    Parameters
    ----------
    epochs : int
        Warm-up epochs over all training examples.
    learner : str
        Learner name (usually "ce").
    model : str
        Network name or "auto" (see :func:`~prune4rel.models.build_model`).
    params : dict
        Further learner arguments (``lr``, ``batch_size``, ``num_threads``, ...).
    """

    epochs: int = 8
    learner: str = "ce"
    model: str = "auto"
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "epochs", _int("warmup.epochs", self.epochs, 1))
        _learner_name("warmup.learner", self.learner)
        _model("warmup.model", self.model)
        object.__setattr__(self, "params", _params("warmup.params", self.params))
        _check_learner_params("warmup.params", self.learner, self.model, self.params)


@dataclass(frozen=True)
class SelectionConfig:
    """Which selectors at which fractions.

    Parameters
    ----------
    methods : list of str
        Registered selector names (see ``prune4rel methods``).
    fractions : list of float
        Fractions of the training set in (0, 1]; 1.0 is the full-data reference.
    params : dict of str to dict
        Hyper-parameters per method, e.g. ``{"prune4rel": {"tau": 0.9}}``. A selector that
        takes ``seed`` gets the run's seed unless set here.
    """

    methods: tuple[str, ...] = ("prune4rel", "uniform")
    fractions: tuple[float, ...] = (0.2, 0.4)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        methods = _str_list("selection.methods", self.methods)
        canonical = []
        for m in methods:
            try:
                canonical.append(selector_class(m).name)
            except ValueError as exc:
                raise ValueError(f"`selection.methods`: {exc}") from None
        if len(set(canonical)) != len(canonical):
            raise ValueError(f"`selection.methods` lists a method twice: {list(methods)}")
        object.__setattr__(self, "methods", tuple(canonical))
        fractions = self.fractions
        if isinstance(fractions, str):
            try:
                fractions = [float(f) for f in fractions.split(",") if f.strip()]
            except ValueError:
                raise ValueError(f"`selection.fractions` must be numbers, got {self.fractions!r}") from None
        if isinstance(fractions, numbers.Real):
            fractions = [fractions]
        if not isinstance(fractions, Sequence) or not fractions:
            raise ValueError(f"`selection.fractions` must be a non-empty list, got {self.fractions!r}")
        clean: list[float] = []
        for f in fractions:
            ok = isinstance(f, numbers.Real) and not isinstance(f, bool) and math.isfinite(f)
            if not ok or not 0.0 < float(f) <= 1.0:
                raise ValueError(f"`selection.fractions` values must be in (0, 1], got {f!r}")
            if float(f) in clean:
                raise ValueError(f"`selection.fractions` lists {f} twice")
            clean.append(float(f))
        object.__setattr__(self, "fractions", tuple(sorted(clean)))
        params = _params("selection.params", self.params)
        resolved: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            try:
                name = selector_class(key).name
            except ValueError as exc:
                raise ValueError(f"`selection.params`: {exc}") from None
            if name not in self.methods:
                raise ValueError(
                    f"`selection.params` sets parameters for {key!r}, which is not in "
                    f"`selection.methods` {list(self.methods)}"
                )
            resolved[name] = _params(f"selection.params.{key}", value)
            try:
                get_selector(name, **resolved[name])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"`selection.params.{key}`: {exc}") from None
        object.__setattr__(self, "params", resolved)


@dataclass(frozen=True)
class TrainConfig:
    """Training on each subset.

    Parameters
    ----------
    learner : str
        Learner name ("ce", "elr", "sop", "sop+", and any registered later).
    epochs : int
    model : str
        Network name or "auto".
    params : dict
        Further learner arguments (``lr``, ``batch_size``, ``lam``, ``num_threads``, ...).
    """

    learner: str = "elr"
    epochs: int = 30
    model: str = "auto"
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _learner_name("train.learner", self.learner)
        object.__setattr__(self, "epochs", _int("train.epochs", self.epochs, 1))
        _model("train.model", self.model)
        object.__setattr__(self, "params", _params("train.params", self.params))
        _check_learner_params("train.params", self.learner, self.model, self.params)


_SECTIONS: dict[str, type] = {
    "data": DataConfig, "warmup": WarmupConfig, "selection": SelectionConfig, "train": TrainConfig,
}
#: Flat keys accepted at the top level of a config (and by ``with_overrides``).
ALIASES: dict[str, tuple[str, ...]] = {
    "dataset": ("data.dataset",),
    "data_root": ("data.root",),
    "root": ("data.root",),
    "path": ("data.path",),
    "label_set": ("data.label_set",),
    "test_set": ("data.test_set",),
    "train_subset": ("data.train_subset",),
    "test_subset": ("data.test_subset",),
    "noise": ("data.noise",),
    "noise_rate": ("data.noise_rate",),
    "data_seed": ("data.seed",),
    "image_size": ("data.image_size",),
    "cache": ("data.cache",),
    "test_path": ("data.test_path",),
    "model": ("warmup.model", "train.model"),
    "learner": ("train.learner",),
    "learner_params": ("train.params",),
    "warmup_epochs": ("warmup.epochs",),
    "epochs": ("train.epochs",),
    "methods": ("selection.methods",),
    "method": ("selection.methods",),
    "fractions": ("selection.fractions",),
    "method_params": ("selection.params",),
}


@dataclass(frozen=True)
class RunConfig:
    """A whole experiment: data, warm-up, selection, training, seed and device.

    Every section validates itself on construction; errors are :class:`ValueError` naming
    the field (e.g. ```train.epochs` must be an integer >= 1, got 0``).

    Parameters
    ----------
    data : DataConfig
    warmup : WarmupConfig
    selection : SelectionConfig
    train : TrainConfig
    seed : int
        Seeds the warm-up and training networks (initialisation, shuffles, augmentations)
        and the seeded selectors. The data are seeded by ``data.seed``.
    device : str
        "cpu", "cuda", "cuda:N" or "auto" (cuda when available). Not part of the config
        hashes: a run may be resumed on another device.

    Examples
    --------
    A YAML file holds the sections (any omitted field keeps its default); flat aliases
    (:data:`ALIASES`, e.g. ``epochs``, ``fractions``) are accepted at the top level::

        seed: 0
        data: {dataset: digits, noise_rate: 0.4, train_subset: 600}
        warmup: {epochs: 8}
        selection: {methods: [prune4rel, uniform], fractions: [0.2, 0.4, 1.0],
                    params: {prune4rel: {tau: 0.9}}}
        train: {learner: elr, epochs: 30, params: {lr: 0.05, num_threads: 1}}
    """

    data: DataConfig = field(default_factory=DataConfig)
    warmup: WarmupConfig = field(default_factory=WarmupConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name, cls in _SECTIONS.items():
            value = getattr(self, name)
            if not isinstance(value, cls):
                raise ValueError(f"`{name}` must be a {cls.__name__}, got {type(value).__name__}")
        object.__setattr__(self, "seed", _int("seed", self.seed, 0))
        if not isinstance(self.device, str):
            raise ValueError(f"`device` must be a string such as 'cpu' or 'cuda', got {self.device!r}")
        if self.device != "auto":
            try:
                torch.device(self.device)
            except (RuntimeError, ValueError):
                raise ValueError(
                    f"`device` must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {self.device!r}"
                ) from None

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (lists instead of tuples), as written to ``config.yaml``."""
        return _plain(asdict(self))

    def to_yaml(self) -> str:
        """The configuration as YAML text."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RunConfig:
        """Build from a nested dict (sections and/or flat :data:`ALIASES`).

        Raises
        ------
        ValueError
            For an unknown key (named with its section) or an invalid value.
        """
        if not isinstance(raw, Mapping):
            raise ValueError(f"a run config must be a mapping, got {type(raw).__name__}")
        nested: dict[str, Any] = {}
        flat: dict[str, Any] = {}
        for key, value in raw.items():
            if key in _SECTIONS:
                if value is None:
                    continue
                if not isinstance(value, Mapping):
                    raise ValueError(f"`{key}` must be a mapping of its fields, got {value!r}")
                known = {f.name for f in fields(_SECTIONS[key])}
                unknown = sorted(set(value) - known)
                if unknown:
                    raise ValueError(f"unknown field(s) `{key}.{unknown[0]}`; `{key}` takes {sorted(known)}")
                nested[key] = dict(value)
            elif key in ("seed", "device"):
                nested[key] = value
            elif key in ALIASES:
                flat[key] = value
            else:
                raise ValueError(
                    f"unknown config key `{key}`; expected sections {sorted(_SECTIONS)}, "
                    f"`seed`, `device` or one of {sorted(ALIASES)}"
                )
        base = cls._build(nested)
        return base.with_overrides(flat) if flat else base

    @classmethod
    def _build(cls, nested: Mapping[str, Any]) -> RunConfig:
        kwargs: dict[str, Any] = {}
        for name, section in _SECTIONS.items():
            kwargs[name] = section(**nested.get(name, {}))
        for key in ("seed", "device"):
            if key in nested:
                kwargs[key] = nested[key]
        return cls(**kwargs)

    @classmethod
    def from_yaml(cls, path: str | Path) -> RunConfig:
        """Read a YAML config file (see the class docstring for its layout)."""
        src = Path(path)
        if not src.is_file():
            raise ValueError(f"config file not found: {src}")
        try:
            raw = yaml.safe_load(src.read_text())
        except yaml.YAMLError as exc:
            raise ValueError(f"config file {src} is not valid YAML: {exc}") from None
        return cls.from_dict(raw or {})

    def with_overrides(self, overrides: Mapping[str, Any]) -> RunConfig:
        """A copy with fields replaced.

        Parameters
        ----------
        overrides : mapping
            Dotted keys (``"train.epochs"``, ``"train.params.lr"``, ``"seed"``) or flat
            :data:`ALIASES` (``"epochs"``, ``"model"``) to values. ``None`` values are
            ignored (a CLI flag that was not given).
        """
        tree = self.to_dict()
        for key, value in overrides.items():
            if value is None:
                continue
            for dotted in ALIASES.get(key, (key,)):
                parts = dotted.split(".")
                if parts[0] not in tree:
                    raise ValueError(f"unknown config field `{dotted}`")
                node = tree
                for i, part in enumerate(parts[:-1]):
                    if not isinstance(node.get(part), dict):
                        raise ValueError(f"unknown config field `{'.'.join(parts[: i + 1])}`")
                    node = node[part]
                if len(parts) == 2 and parts[1] not in node:
                    raise ValueError(f"unknown config field `{dotted}`; `{parts[0]}` takes {sorted(node)}")
                node[parts[-1]] = value
        return type(self)._build(tree)


def _plain(obj: Any) -> Any:
    """Tuples -> lists and numpy scalars -> Python, recursively (YAML- and JSON-safe)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


# ---------------------------------------------------------------------- hashing
def _digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _indices_digest(indices: np.ndarray) -> str:
    arr = np.ascontiguousarray(indices, dtype=np.int64)
    return hashlib.sha256(arr.tobytes()).hexdigest()[:16]


def _data_key(data: DataConfig) -> str:
    fields = {  # where the decoded images are cached does not change them
        k: v for k, v in asdict(data).items() if k != "cache" and not (k in _LATER_DATA_FIELDS and v is None)
    }
    if fields["label_set"] is None:  # hashed as its former default, "worst", for every dataset
        fields["label_set"] = "worst"
    return _digest("data", SCHEMA_VERSION, fields)


def _fraction_tag(fraction: float) -> str:
    return str(float(fraction))


# ---------------------------------------------------------------------- data and device
def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> cuda when available else cpu; checks that a requested GPU exists.

    Raises
    ------
    ValueError
        When ``device`` asks for CUDA and ``torch.cuda.is_available()`` is False, or names a
        GPU index that does not exist.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"`device` is {device!r} but no CUDA GPU is available to torch "
                f"(torch {torch.__version__}, cuda build: {torch.version.cuda}); use --device cpu"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"`device` {device!r}: only {torch.cuda.device_count()} CUDA device(s) exist")
    return dev


def _apply_noise(clean: np.ndarray, data: DataConfig, num_classes: int, seed: int) -> np.ndarray:
    rate = float(data.noise_rate or 0.0)
    if data.noise == "symmetric":
        return symmetric_noise(clean, rate, num_classes, seed=seed)[0]
    return asymmetric_noise(clean, rate, num_classes, seed=seed)[0]


def _first(ds: NoisyDataset, n_train: int | None, n_test: int | None) -> NoisyDataset:
    for name, want, have in (("data.train_subset", n_train, ds.n), ("data.test_subset", n_test, ds.n_test)):
        if want is not None and want > have:
            raise ValueError(f"`{name}` = {want} exceeds the {have} examples of {ds.name!r}")
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


def _load_arrays(data: DataConfig) -> NoisyDataset:
    path = Path(str(data.path))
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
    if data.noise_rate:
        clean = noisy if clean is None else clean
        noisy = _apply_noise(np.asarray(clean, dtype=np.int64), data, num_classes, data.seed)
    return from_arrays(
        arrays["x_train"], noisy, arrays["x_test"], arrays["y_test"], clean,
        num_classes=num_classes, test_set=f"{path.stem}-test", name=path.stem,
    )


def _file_index(data: DataConfig) -> FileImageDataset:
    if data.dataset == "image_csv":
        return index_image_csv(str(data.path), data.root, data.test_path, seed=data.seed)
    root = Path(str(data.root))
    if data.dataset == "webvision":
        return load_webvision(root)
    if data.dataset == "clothing1m":
        return load_clothing1m(root)
    return load_imagenet(root)


def load_dataset(data: DataConfig) -> NoisyDataset:
    """Load the dataset a :class:`DataConfig` describes (seeded by ``data.seed``).

    Parameters
    ----------
    data : DataConfig

    Returns
    -------
    NoisyDataset
        With ``meta["label"]``, a short description used in reports (name and noise).
    """
    if data.dataset == "digits":
        rate = _DIGITS_DEFAULT_NOISE if data.noise_rate is None else data.noise_rate
        ds = _first(load_digits_noisy(rate, data.seed, noise=data.noise), data.train_subset, data.test_subset)
        label = f"digits ({data.noise} {rate:.0%})"
    elif data.dataset == "cifar10n":
        ds = load_cifar10n(
            Path(str(data.root)), str(data.label_set), data.test_set or "exact1k",
            max_train=data.train_subset, max_test=data.test_subset,
        )
        for name, want, have in (("data.train_subset", data.train_subset, ds.n),
                                 ("data.test_subset", data.test_subset, ds.n_test)):
            if want is not None and want > have:
                raise ValueError(f"`{name}` = {want} exceeds the {have} examples of {ds.name!r}")
        label = "cifar10" if data.noise_rate else ds.name
    elif data.dataset == "cifar100n":
        ds = load_cifar100n(
            Path(str(data.root)), str(data.label_set), max_train=data.train_subset, max_test=data.test_subset
        )
        label = ds.name
    elif data.dataset in FILE_DATASETS:
        ds = _file_index(data).materialize(
            data.train_subset, data.test_subset, data.image_size, cache=data.cache,
        )
        label = f"{ds.name} ({data.image_size}px)"
    else:
        ds = _first(_load_arrays(data), data.train_subset, data.test_subset)
        label = ds.name
    if data.noise_rate and data.dataset not in ("digits", "arrays"):  # those two add it as they load
        # flip the clean labels (where none are known, the given ones are taken as the truth)
        clean = ds.noisy_labels if ds.clean_labels is None else ds.clean_labels
        ds = replace(
            ds, noisy_labels=_apply_noise(clean, data, ds.num_classes, data.seed), clean_labels=clean,
            meta={**ds.meta, "noise": data.noise, "noise_rate": data.noise_rate},
        )
    if data.noise_rate and data.dataset != "digits":
        label += f" ({data.noise} {data.noise_rate:.0%})"
    if data.train_subset is not None:
        label += f", first {data.train_subset}"
    ds.meta["label"] = label
    return ds


# ---------------------------------------------------------------------- stage files
def _warn_redo(path: Path, why: str) -> None:
    warnings.warn(f"{path} {why}; recomputing it", ResumeWarning, stacklevel=3)


def _read_json(path: Path) -> dict[str, Any] | None:
    """A JSON stage output, or None when missing or unreadable (with a warning)."""
    if not path.is_file():
        return None
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        _warn_redo(path, f"cannot be read ({exc})")
        return None
    if not isinstance(obj, dict):
        _warn_redo(path, "does not hold a JSON object")
        return None
    return obj


def _learner(name: str, model: str, params: Mapping[str, Any], device: torch.device, seed: int) -> Learner:
    return get_learner(name, model=model, device=device, seed=seed, **params)


def _warmup_stage(
    dataset: NoisyDataset, warmup: WarmupConfig, seed: int, device: torch.device, paths: dict[str, Path],
    stage_hash: str, resume: bool, progress: bool, callbacks: Sequence[Callback],
) -> Signals:
    """Warm up (or reuse ``paths["signals"]`` when it carries ``stage_hash``) and return the
    Signals. The warm-up checkpoints every epoch to ``paths["ckpt"]``, continues from a
    matching checkpoint, and removes it once the Signals are written."""
    path, ckpt = paths["signals"], paths["ckpt"]
    if resume and path.is_file():
        try:
            signals = Signals.load(path)
        except SignalsFileError as exc:
            _warn_redo(path, f"is unreadable ({exc})")
        else:
            if signals.meta.get("config_hash") == stage_hash and signals.n == dataset.n:
                ckpt.unlink(missing_ok=True)
                return signals

    def run(learner: Learner, state: dict[str, Any] | None) -> tuple[Signals, float]:
        recorder, seconds = EpochRecorder(), 0.0
        if state is not None:
            try:
                recorder.load_state_dict(state["recorder"])
                seconds = float(state["seconds"])
            except (KeyError, TypeError, ValueError) as exc:
                raise _UnusableCheckpoint(f"no usable warm-up histories: {exc}") from None
            if recorder.epochs != state.get("epoch") or recorder.losses.shape[1:] != (dataset.n,):
                raise _UnusableCheckpoint(
                    f"warm-up histories of shape {recorder.losses.shape} after epoch {state.get('epoch')}"
                )
        saver = _WarmupCheckpoint(ckpt, stage_hash, seconds, recorder)
        signals = run_warmup_training(
            learner, dataset, warmup.epochs, progress=progress, callbacks=[saver, *callbacks],
            recorder=recorder,
        )
        return signals, saver.seconds

    make = partial(_learner, warmup.learner, warmup.model, warmup.params, device, seed)
    signals, seconds = _resumable(ckpt, stage_hash, resume, make, run)
    signals = Signals(
        labels=signals.labels, probs=signals.probs, embeddings=signals.embeddings,
        losses=signals.losses, correct=signals.correct, margins=signals.margins,
        clean_labels=signals.clean_labels,
        meta={**signals.meta, "config_hash": stage_hash, "seconds": round(seconds, 3)},
    )
    signals.save(path)
    ckpt.unlink(missing_ok=True)
    return signals


def _selector_params(method: str, user: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """The selector's parameters as hashed and recorded: the user's, plus the run's seed."""
    accepted = set(inspect.signature(selector_class(method).__init__).parameters) - {"self"}
    params = {k: v for k, v in user.items() if k != "progress"}
    if "seed" in accepted and "seed" not in params:
        params["seed"] = seed
    return params


def _selection_stage(
    signals: Signals, method: str, params: dict[str, Any], fraction: float, device: torch.device,
    paths: tuple[Path, Path], stage_hash: str, resume: bool, progress: bool,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Select (or reuse the subset files when they carry ``stage_hash``)."""
    npy, meta_path = paths
    if resume:
        meta = _read_json(meta_path)
        if meta is not None and meta.get("config_hash") == stage_hash and npy.is_file():
            try:
                indices = np.load(npy, allow_pickle=False)
            except (OSError, ValueError) as exc:
                _warn_redo(npy, f"cannot be read ({exc})")
            else:
                same = _indices_digest(indices) == meta.get("indices")
                if same and indices.shape == (meta.get("subset_size"),):
                    return indices.astype(np.int64), meta
                _warn_redo(npy, "does not match its .json record")
    accepted = set(inspect.signature(selector_class(method).__init__).parameters)
    ctor = dict(params)
    if "device" in accepted and "device" not in ctor:
        ctor["device"] = str(device)
    if "progress" in accepted:
        ctor["progress"] = progress
    selection = get_selector(method, **ctor).select(signals, fraction)
    indices = np.asarray(selection.indices, dtype=np.int64)
    noise = None
    if signals.clean_labels is not None:
        noise = float(np.mean(signals.labels[indices] != signals.clean_labels[indices]))
    meta = {
        "config_hash": stage_hash, "method": method, "params": params, "fraction": fraction,
        "resolved_params": _plain({k: v for k, v in selection.params.items() if k != "progress"}),
        "subset_size": int(indices.size), "indices": _indices_digest(indices), "n": signals.n,
        "objective": selection.objective, "seconds": round(selection.seconds, 4), "subset_noise_rate": noise,
        # what the selector reports about itself in 0-d extras, e.g. prune4rel's backend and the tau used
        "selection_info": {
            k: np.asarray(v).item() for k, v in selection.extras.items() if np.ndim(v) == 0
        },
    }
    atomic_save_npy(npy, indices)
    atomic_write_json(meta_path, meta)
    return indices, meta


class _Checkpoint(Callback):
    """Writes a stage's checkpoint atomically after every epoch: the learner state, the
    epochs done, the stage's wall time so far and the entries of :meth:`extra`."""

    def __init__(self, path: Path, stage_hash: str, seconds: float) -> None:
        self.path, self.stage_hash = path, stage_hash
        self.seconds_before = seconds
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        """Wall time of the stage, summed over interrupted sessions."""
        return self.seconds_before + time.perf_counter() - self.start

    def extra(self) -> dict[str, Any]:
        """The stage's own entries of the checkpoint."""
        return {}

    def on_epoch_end(self, learner: Learner, epoch: int, logs: dict[str, Any]) -> None:
        learner_state = learner.state_dict()
        state = {
            "format": CHECKPOINT_FORMAT, "schema_version": SCHEMA_VERSION, "config_hash": self.stage_hash,
            "epoch": learner_state["fit"]["epoch"], "learner": learner_state, "seconds": self.seconds,
            **self.extra(),
        }
        with atomic_path(self.path) as tmp:
            torch.save(state, tmp)


class _WarmupCheckpoint(_Checkpoint):
    """The warm-up's checkpoint, with the histories recorded so far."""

    def __init__(self, path: Path, stage_hash: str, seconds: float, recorder: EpochRecorder) -> None:
        super().__init__(path, stage_hash, seconds)
        self.recorder = recorder

    def extra(self) -> dict[str, Any]:
        return {"recorder": self.recorder.state_dict()}


class _EpochLog(_Checkpoint):
    """Per-epoch test accuracy, metrics file and checkpoint of a training stage."""

    def __init__(
        self, dataset: NoisyDataset, stage_hash: str, ckpt: Path, metrics: Path,
        records: list[dict[str, Any]], seconds: float,
    ) -> None:
        super().__init__(ckpt, stage_hash, seconds)
        self.dataset, self.metrics, self.records = dataset, metrics, records

    def extra(self) -> dict[str, Any]:
        return {"metrics": self.records}

    def on_epoch_end(self, learner: Learner, epoch: int, logs: dict[str, Any]) -> None:
        record = {
            "epoch": len(self.records) + 1,
            "train_loss": float(logs["loss"]),
            "train_acc_given": float(logs["train_acc_given"]),
            "lr": float(logs["lr"]),
            "test_acc": learner.evaluate(self.dataset),
            "relabel_acc": logs.get("relabel_acc"),
            "seconds": float(logs["seconds"]),
            "config_hash": self.stage_hash,
        }
        self.records.append(record)
        super().on_epoch_end(learner, epoch, logs)
        self.write_metrics()

    def write_metrics(self) -> None:
        atomic_write_text(self.metrics, "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.records))


def _load_checkpoint(path: Path, stage_hash: str) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it belongs to ``stage_hash``; None otherwise (with a
    warning when there is a file)."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        _warn_redo(path, f"is not a readable checkpoint ({type(exc).__name__}: {exc})")
        return None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        _warn_redo(path, "is not a prune4rel checkpoint")
        return None
    if state.get("config_hash") != stage_hash:
        _warn_redo(path, f"was written by another configuration (hash {state.get('config_hash')!r})")
        return None
    return state


class _UnusableCheckpoint(Exception):
    """A checkpoint of the right configuration whose content cannot continue the stage."""


_T = TypeVar("_T")


def _resumable(
    ckpt: Path, stage_hash: str, resume: bool, make: Callable[[], Learner],
    run: Callable[[Learner, dict[str, Any] | None], _T],
) -> _T:
    """``run(learner, checkpoint)`` with a new learner from ``make``, set to continue from
    the checkpoint at ``ckpt`` when ``resume`` and it belongs to ``stage_hash``.

    A checkpoint that cannot continue the stage is ignored with a :class:`ResumeWarning`
    and the stage starts afresh: ``run`` raises :class:`_UnusableCheckpoint` for its own
    entries; the learner raises :class:`~prune4rel.learners.LearnerStateError` at the
    start of its ``fit``, before any epoch or callback runs.
    """
    state = _load_checkpoint(ckpt, stage_hash) if resume else None
    if state is not None:
        try:
            return run(_restored(make(), state), state)
        except (LearnerStateError, _UnusableCheckpoint) as exc:
            _warn_redo(ckpt, f"holds no usable state ({exc})")
    return run(make(), None)


def _restored(learner: Learner, state: dict[str, Any]) -> Learner:
    """``learner`` set to continue from the checkpoint ``state``."""
    try:
        learner.load_state_dict(state.get("learner", {}))  # checks the format
    except ValueError as exc:
        raise _UnusableCheckpoint(str(exc)) from None
    return learner


def _training_stage(
    dataset: NoisyDataset, subset: np.ndarray, train: TrainConfig, seed: int, device: torch.device,
    paths: dict[str, Path], stage_hash: str, resume: bool, progress: bool, callbacks: Sequence[Callback],
) -> tuple[list[dict[str, Any]], float | None, float]:
    """Train on ``subset``, resuming from a matching checkpoint.

    Returns
    -------
    records : list of dict
        One metrics record per epoch.
    relabel_acc : float or None
        Final re-labeling accuracy on the subset.
    seconds : float
        Training wall time, summed over interrupted sessions.
    """

    def run(
        learner: Learner, state: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], float | None, float]:
        records: list[dict[str, Any]] = []
        seconds = 0.0
        if state is not None:
            try:
                records, seconds = list(state["metrics"]), float(state["seconds"])
            except (KeyError, TypeError, ValueError) as exc:
                raise _UnusableCheckpoint(f"no usable metrics: {exc}") from None
        log = _EpochLog(dataset, stage_hash, paths["ckpt"], paths["metrics"], records, seconds)
        # the config hash covers the learner, its parameters, the epochs and the subset, so a
        # matching checkpoint fits this fit call unless it was damaged
        learner.fit(dataset, subset, train.epochs, progress=progress, callbacks=[log, *callbacks])
        log.write_metrics()
        relabel = learner.relabel_accuracy(subset) if dataset.clean_labels is not None else None
        return log.records, relabel, log.seconds

    make = partial(_learner, train.learner, train.model, train.params, device, seed)
    return _resumable(paths["ckpt"], stage_hash, resume, make, run)


# ---------------------------------------------------------------------- the run directory
_STAGE_PATTERNS = (
    "signals.npz", "subset_*.npy", "subset_*.json", "metrics_*.jsonl", "result_*.json", "ckpt_*.pt",
)


def _prepare_run_dir(out: Path, config: RunConfig, resume: bool) -> None:
    """Refuse to mix two data / warm-up / seed settings in one run directory."""
    previous = out / "config.yaml"
    if previous.is_file():
        try:
            old = yaml.safe_load(previous.read_text())
        except (OSError, yaml.YAMLError):
            old = None
        if not isinstance(old, dict):
            _warn_redo(previous, "cannot be read")
            old = config.to_dict()  # nothing to compare with: the stage hashes still guard
        new = config.to_dict()
        differing = ["seed"] if old.get("seed") != new["seed"] else []
        for section in ("data", "warmup"):
            before = old.get(section) if isinstance(old.get(section), dict) else {}
            differing += [f"{section}.{k}" for k, v in new[section].items() if before.get(k) != v]
        if differing and resume:
            raise ValueError(
                f"run directory {out} holds a run with other data / warm-up / seed settings "
                f"(differing: {', '.join(differing)}); use another output directory, or "
                "resume=False (--no-resume) to delete that run's files and start afresh"
            )
        if differing:
            for pattern in _STAGE_PATTERNS:
                for stale in out.glob(pattern):
                    stale.unlink()
    atomic_write_text(previous, config.to_yaml())


def run_experiment(
    config: RunConfig,
    out_dir: str | Path,
    resume: bool = True,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
    warmup_callbacks: Sequence[Callback] = (),
) -> dict[str, Any]:
    """Run (or resume) one experiment into ``out_dir``.

    Parameters
    ----------
    config : RunConfig
    out_dir : path
        Run directory (created if missing); see the module docstring for its files.
    resume : bool
        Skip stages whose outputs exist with a matching config hash and continue an
        interrupted warm-up or training from its checkpoint. False recomputes everything.
    progress : bool
        Progress bars for every stage.
    callbacks : sequence of Callback
        Extra :class:`~prune4rel.learners.Callback` objects for every training ``fit``
        (after the run's own per-epoch logger and checkpointer).
    warmup_callbacks : sequence of Callback
        The same for the warm-up ``fit`` (after its recorder and checkpointer).

    Returns
    -------
    dict
        ``run_dir``, ``signals`` (path or None when only fraction 1.0 was asked) and
        ``results``: the result dicts, in (fraction, method) order.

    Raises
    ------
    ValueError
        For an unavailable device, unreadable data, or a run directory that holds another
        data / warm-up / seed setting (while ``resume`` is True).
    """
    if not isinstance(config, RunConfig):
        raise ValueError(f"`config` must be a RunConfig, got {type(config).__name__}")
    device = resolve_device(config.device)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _prepare_run_dir(out, config, resume)
    dataset = load_dataset(config.data)
    warmup_hash = _digest("warmup", _data_key(config.data), asdict(config.warmup), config.seed)

    jobs: list[tuple[str, float]] = []
    for fraction in config.selection.fractions:
        methods = (FULL_METHOD,) if fraction == 1.0 else config.selection.methods
        jobs.extend((m, fraction) for m in methods)

    signals: Signals | None = None
    warmup_seconds: float | None = None
    signals_path = out / "signals.npz"
    if any(m != FULL_METHOD for m, _ in jobs):
        start = time.perf_counter()
        signals = _warmup_stage(
            dataset, config.warmup, config.seed, device,
            {"signals": signals_path, "ckpt": out / "ckpt_warmup.pt"}, warmup_hash, resume, progress,
            warmup_callbacks,
        )
        warmup_seconds = float(signals.meta.get("seconds", time.perf_counter() - start))

    results = []
    bar = tqdm(jobs, desc="prune4rel run", disable=not progress, unit="subset")
    for method, fraction in bar:
        bar.set_postfix(method=method, fraction=fraction, refresh=True)
        tag = f"{method}_{_fraction_tag(fraction)}"
        results.append(_run_job(
            dataset, signals, config, device, out, tag, method, fraction, warmup_hash, warmup_seconds,
            resume, progress, callbacks,
        ))
    return {"run_dir": str(out), "signals": str(signals_path) if signals is not None else None,
            "results": results}


def _run_job(
    dataset: NoisyDataset, signals: Signals | None, config: RunConfig, device: torch.device, out: Path,
    tag: str, method: str, fraction: float, warmup_hash: str, warmup_seconds: float | None,
    resume: bool, progress: bool, callbacks: Sequence[Callback],
) -> dict[str, Any]:
    """Selection, training and result of one (method, fraction)."""
    if method == FULL_METHOD:
        params: dict[str, Any] = {}
        select_hash = _digest("full", _data_key(config.data))
        subset = np.arange(dataset.n, dtype=np.int64)
        npy, meta_path = out / f"subset_{tag}.npy", out / f"subset_{tag}.json"
        meta = _read_json(meta_path) if resume else None
        if meta is None or meta.get("config_hash") != select_hash or not npy.is_file():
            atomic_save_npy(npy, subset)
            atomic_write_json(meta_path, {
                "config_hash": select_hash, "method": method, "params": params, "fraction": fraction,
                "subset_size": int(subset.size), "indices": _indices_digest(subset), "n": dataset.n,
                "objective": None, "seconds": 0.0, "subset_noise_rate": dataset.noise_rate(),
            })
        select_seconds = 0.0
    else:
        assert signals is not None
        params = _selector_params(method, config.selection.params.get(method, {}), config.seed)
        select_hash = _digest("select", warmup_hash, method, params, fraction)
        subset, meta = _selection_stage(
            signals, method, params, fraction, device,
            (out / f"subset_{tag}.npy", out / f"subset_{tag}.json"), select_hash, resume, progress,
        )
        select_seconds = float(meta["seconds"])
        params = meta.get("resolved_params", params)
    train_hash = _digest("train", select_hash, _indices_digest(subset), asdict(config.train), config.seed)
    result_path = out / f"result_{tag}.json"
    if resume:
        previous = _read_json(result_path)
        if previous is not None and previous.get("config_hash") == train_hash:
            return previous
    paths = {"ckpt": out / f"ckpt_{tag}.pt", "metrics": out / f"metrics_{tag}.jsonl"}
    records, relabel, train_seconds = _training_stage(
        dataset, subset, config.train, config.seed, device, paths, train_hash, resume, progress, callbacks
    )
    accs = [r["test_acc"] for r in records]
    best = int(np.argmax(accs))
    result = {
        "format": RESULT_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "config_hash": train_hash,
        "method": method,
        "params": params,
        "fraction": fraction,
        "subset_size": int(subset.size),
        "n_train": dataset.n,
        "subset_noise_rate": dataset.noise_rate(subset),
        "train_noise_rate": dataset.noise_rate(),
        "test_acc_last": float(accs[-1]),
        "test_acc_best": float(accs[best]),
        "best_epoch": records[best]["epoch"],
        "relabel_acc": relabel,
        "test_set": dataset.test_set,
        "dataset": dataset.meta.get("label", dataset.name),
        "learner": config.train.learner,
        "learner_params": {"model": config.train.model, **config.train.params},
        "epochs": config.train.epochs,
        "warmup_epochs": None if method == FULL_METHOD else config.warmup.epochs,
        "seconds": {
            "warmup": None if method == FULL_METHOD else warmup_seconds,
            "select": select_seconds,
            "train": round(train_seconds, 3),
        },
        "device": str(device),
        "seed": config.seed,
        "data_seed": config.data.seed,
    }
    atomic_write_json(result_path, result)
    paths["ckpt"].unlink(missing_ok=True)
    return result
