"""Noisy datasets and their registry, synthetic noise models, loaders and batched augmentations.

torchvision is optional: only :func:`load_cifar10n` / :func:`load_cifar100n` with
``download=True`` import it. Large image sets on disk (WebVision, Clothing-1M, ImageNet, a
CSV of paths) are indexed as :class:`FileImageDataset` and decoded in bounded parts with
:meth:`FileImageDataset.materialize` (see :mod:`prune4rel.data.image_files` and
:mod:`prune4rel.data.layouts`).
"""

from prune4rel.data import catalog  # noqa: F401 - registers the built-in datasets
from prune4rel.data.augment import (
    Augment,
    FeatureAugment,
    ImageAugment,
    NoAugment,
    cutout,
    default_augment,
    random_crop,
    random_flip,
)
from prune4rel.data.dataset import NoisyDataset, from_arrays
from prune4rel.data.decode import decode_image
from prune4rel.data.image_files import FileImageDataset
from prune4rel.data.input_pipeline import InputPipeline
from prune4rel.data.layouts.clothing1m import CLOTHING1M_CLASSES, load_clothing1m
from prune4rel.data.layouts.hf import load_hf_images
from prune4rel.data.layouts.image_csv import index_image_csv, load_image_folder
from prune4rel.data.layouts.imagenet import load_imagenet
from prune4rel.data.layouts.webvision import load_webvision
from prune4rel.data.listings import IMAGE_EXTENSIONS
from prune4rel.data.loaders import (
    CIFAR10_CLASSES,
    CIFAR10N_LABEL_SETS,
    CIFAR100_CLASSES,
    CIFAR100N_LABEL_SETS,
    load_cifar10n,
    load_cifar100n,
    load_digits_noisy,
)
from prune4rel.data.noise import CIFAR10_ASYM_MAP, asymmetric_noise, symmetric_noise
from prune4rel.data.randaugment import RANDAUGMENT_OPS, RandAugment
from prune4rel.data.registry import (
    DataRequest,
    DatasetSpec,
    dataset_names,
    dataset_spec,
    load_dataset,
    register_dataset,
    registered_datasets,
)

__all__ = [
    "CIFAR10N_LABEL_SETS",
    "CIFAR10_ASYM_MAP",
    "CIFAR10_CLASSES",
    "CIFAR100N_LABEL_SETS",
    "CIFAR100_CLASSES",
    "CLOTHING1M_CLASSES",
    "IMAGE_EXTENSIONS",
    "RANDAUGMENT_OPS",
    "Augment",
    "DataRequest",
    "DatasetSpec",
    "FeatureAugment",
    "FileImageDataset",
    "ImageAugment",
    "InputPipeline",
    "NoAugment",
    "NoisyDataset",
    "RandAugment",
    "asymmetric_noise",
    "cutout",
    "dataset_names",
    "dataset_spec",
    "decode_image",
    "default_augment",
    "from_arrays",
    "index_image_csv",
    "load_cifar10n",
    "load_cifar100n",
    "load_clothing1m",
    "load_dataset",
    "load_digits_noisy",
    "load_hf_images",
    "load_image_folder",
    "load_imagenet",
    "load_webvision",
    "random_crop",
    "random_flip",
    "register_dataset",
    "registered_datasets",
    "symmetric_noise",
]
