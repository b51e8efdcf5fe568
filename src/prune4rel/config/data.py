"""The ``data`` section of a run configuration, checked against the dataset registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prune4rel.config.rules import PathText
from prune4rel.data import DatasetSpec, dataset_names, dataset_spec, registered_datasets
from prune4rel.validation import Integer, Options, Real, Rule, Satisfies, optional

__all__ = ["NOISE_KINDS", "UNSET_UNWRITTEN", "DataConfig"]

NOISE_KINDS = ("symmetric", "asymmetric")
#: Fields added after the first run directories were written: left out of ``config.yaml``
#: (and of the hashes, see :mod:`prune4rel.config.hashing`) while unset, so that those
#: directories read and resume unchanged.
UNSET_UNWRITTEN = ("image_column", "label_column", "clean_label_column", "test_split")
_NAME = Satisfies(lambda v: isinstance(v, str) and v.strip() != "", "a non-empty name")
#: Rules of the fields that every dataset reads the same way.
_RULES: dict[str, Rule] = {
    "seed": Integer(0),
    "noise": Options(*NOISE_KINDS),
    "train_subset": optional(Integer(1)),
    "test_subset": optional(Integer(1)),
    "noise_rate": optional(Real(0.0, 1.0, closed="left")),
    "root": optional(PathText()),
    "path": optional(PathText()),
    "cache": optional(PathText()),
    "test_path": optional(PathText()),
    **{key: optional(_NAME) for key in UNSET_UNWRITTEN},
}


def _names(specs: list[DatasetSpec]) -> str:
    quoted = [repr(s.name) for s in specs]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _takes(spec: DatasetSpec, key: str) -> bool:
    """Whether ``spec`` reads the field ``key``: required, its own, or ``root`` of image files
    (where "image_csv" resolves relative paths against it)."""
    return key in spec.required or key in spec.extra_fields or (key == "root" and spec.image_files)


def _only_for(key: str, value: Any, dataset: str, takers: list[DatasetSpec], kind: str = "") -> ValueError:
    """The error for a field set on a dataset that does not take it."""
    plural = "dataset" if len(takers) == 1 else "datasets"
    return ValueError(
        f"`data.{key}` applies to the {kind}{plural} {_names(takers)} only, got {value!r} for {dataset!r}"
    )


@dataclass(frozen=True)
class DataConfig:
    """Which noisy training set and test set to use.

    Parameters
    ----------
    dataset : {"digits", "cifar10n", "cifar100n", "arrays", "image_csv", "webvision", \
"clothing1m", "imagenet", "hf"}
        A registered dataset (:func:`~prune4rel.data.dataset_names`): scikit-learn's digits
        with synthetic noise; CIFAR-10 with CIFAR-10N human labels; CIFAR-100 with
        CIFAR-100N labels; a user ``.npz`` file (see ``path``); or image files: a CSV of
        (path, label[, clean_label]) rows, or WebVision (first 50 classes of the Google
        subset), Clothing-1M or ImageNet-1K in their standard layouts (see
        :mod:`prune4rel.data.layouts`), or a Hugging Face image dataset saved with
        ``save_to_disk`` ("hf", see ``path``), decoded at ``image_size``.
    root : str, optional
        The dataset's folder: CIFAR-10N (``cifar10.npz`` and ``cifar10n_labels.npz``),
        CIFAR-100N (see :func:`~prune4rel.data.load_cifar100n`), WebVision, Clothing-1M or
        ImageNet (required for these); for "image_csv", the folder relative image paths are
        resolved against (default: the CSV's folder).
    path : str, optional
        For "arrays": an ``.npz`` with ``x_train``, ``y_train`` (noisy), ``x_test``,
        ``y_test`` and optionally ``clean`` (true training labels). For "image_csv": the
        training CSV. For "hf": the folder written by ``datasets``' ``save_to_disk`` (a
        ``Dataset``, or a ``DatasetDict`` whose "train" split is the training set).
    test_path : str, optional
        For "image_csv": a test CSV; for "hf": another ``save_to_disk`` folder. Without it
        (and, for "hf", without a test split) a seeded 20% of the rows are held out.
    image_column, label_column : str, optional
        For "hf": the image column (a ``datasets.Image`` feature; default "image") and the
        given-label column (default "label").
    clean_label_column : str, optional
        For "hf": a column of true labels (evaluation only; -1 where unknown).
    test_split : str, optional
        For "hf": the test split of a ``DatasetDict`` (default "test" when it has one).
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
    image_column: str | None = None
    label_column: str | None = None
    clean_label_column: str | None = None
    test_split: str | None = None

    def __post_init__(self) -> None:
        spec = dataset_spec(Options(*dataset_names()).check("data.dataset", self.dataset))
        for key, rule in _RULES.items():
            self._set(key, rule.check(f"data.{key}", getattr(self, key)))
        for key, value in spec.defaults.items():
            if getattr(self, key) is None:
                self._set(key, value)
        self._check_offered("label_set", spec.label_sets)
        self._check_offered("test_set", spec.test_sets)
        if self.noise_rate and spec.human_noise and self.label_set != "clean":
            what = f"label_set {self.label_set!r}" if self.label_set else f"dataset {self.dataset!r}"
            hint = "; use label_set 'clean' for synthetic noise" if self.label_set else ""
            raise ValueError(
                f"`data.noise_rate` = {self.noise_rate} adds synthetic noise, but {what} already "
                f"holds human noise{hint}"
            )
        for key, what in spec.required.items():
            if getattr(self, key) is None:
                raise ValueError(f"`data.{key}` is required for dataset {self.dataset!r} ({what})")
        if spec.image_files:
            self._set("image_size", Integer(1).check("data.image_size", self.image_size))
        else:
            files = [s for s in registered_datasets() if s.image_files]
            for key in ("image_size", "cache"):
                if getattr(self, key) is not None:
                    raise _only_for(key, getattr(self, key), self.dataset, files, "image-file ")
        keys = {"root", "path", *(k for other in registered_datasets() for k in other.extra_fields)}
        for key in sorted(keys):
            if getattr(self, key) is not None and not _takes(spec, key):
                takers = [s for s in registered_datasets() if _takes(s, key)]
                raise _only_for(key, getattr(self, key), self.dataset, takers)

    def _set(self, key: str, value: Any) -> None:
        object.__setattr__(self, key, value)

    def _check_offered(self, key: str, options: tuple[str, ...]) -> None:
        """``key`` ("label_set" or "test_set") is one of the dataset's ``options``, or unset
        when it offers none."""
        value = getattr(self, key)
        if value is None:
            return
        if options:
            Options(*options).check(f"data.{key}", value)
            return
        raise _only_for(key, value, self.dataset, [s for s in registered_datasets() if getattr(s, f"{key}s")])
