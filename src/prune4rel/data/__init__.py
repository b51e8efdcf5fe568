"""Noisy datasets, synthetic noise models, loaders and batched augmentations.

torchvision is optional: only :func:`load_cifar10n` with ``download=True`` imports it.
"""

from prune4rel.data.augment import (
    Augment,
    FeatureAugment,
    ImageAugment,
    InputPipeline,
    NoAugment,
    cutout,
    default_augment,
    random_crop,
    random_flip,
)
from prune4rel.data.dataset import NoisyDataset, from_arrays
from prune4rel.data.loaders import (
    CIFAR10_CLASSES,
    CIFAR10N_LABEL_SETS,
    load_cifar10n,
    load_digits_noisy,
)
from prune4rel.data.noise import CIFAR10_ASYM_MAP, asymmetric_noise, symmetric_noise

__all__ = [
    "CIFAR10N_LABEL_SETS",
    "CIFAR10_ASYM_MAP",
    "CIFAR10_CLASSES",
    "Augment",
    "FeatureAugment",
    "ImageAugment",
    "InputPipeline",
    "NoAugment",
    "NoisyDataset",
    "asymmetric_noise",
    "cutout",
    "default_augment",
    "from_arrays",
    "load_cifar10n",
    "load_digits_noisy",
    "random_crop",
    "random_flip",
    "symmetric_noise",
]
