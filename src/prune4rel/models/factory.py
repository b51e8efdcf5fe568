"""Build a model by name."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from prune4rel.models.base import EmbeddingModel
from prune4rel.models.resnet50 import ResNet50
from prune4rel.models.resnets import AirbenchNet, PreActResNet18
from prune4rel.models.small import MLP, SmallCNN

__all__ = ["MODEL_NAMES", "build_model"]

_ALIASES = {
    "mlp": "mlp",
    "small_cnn": "small_cnn",
    "smallcnn": "small_cnn",
    "cnn": "small_cnn",
    "airbench": "airbench",
    "cifar_resnet": "airbench",
    "fast_resnet": "airbench",
    "preact_resnet18": "preact_resnet18",
    "preactresnet18": "preact_resnet18",
    "resnet50": "resnet50",
    "resnet_50": "resnet50",
}
#: Canonical model names accepted by :func:`build_model` (aliases also work).
MODEL_NAMES = ("mlp", "small_cnn", "airbench", "preact_resnet18", "resnet50")


def build_model(
    name: str,
    num_classes: int,
    in_channels: int = 3,
    *,
    input_shape: Sequence[int] | None = None,
    **kwargs: Any,
) -> EmbeddingModel:
    """Instantiate a network exposing ``embed``, ``forward`` and ``embedding_dim``.

    Parameters
    ----------
    name : {"mlp", "small_cnn", "airbench", "preact_resnet18", "resnet50"}
        Also accepted: "cnn", "cifar_resnet"/"fast_resnet" (= airbench). "resnet50" is
        torchvision's ResNet-50 for ImageNet-size inputs (:class:`ResNet50`; needs the
        optional torchvision, imported only here; kwargs e.g. ``weights="IMAGENET1K_V2"``).
    num_classes : int
    in_channels : int
        Image channels (ignored by "mlp").
    input_shape : sequence of int, optional
        One input as the model sees it, (C, H, W) or (F,). Required by "mlp" (it sets
        ``in_features``); "small_cnn" uses H to decide where to pool. When given, its
        channel count overrides ``in_channels``.
    **kwargs
        Passed to the model class (e.g. ``hidden=(512,)``, ``widths=(128, 384, 384)``).

    Returns
    -------
    EmbeddingModel

    Raises
    ------
    ValueError
        For an unknown name or a missing ``input_shape`` for "mlp".
    ImportError
        For "resnet50" without torchvision (the message says what to install).
    """
    key = _ALIASES.get(str(name).lower().replace("-", "_"))
    if key is None:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(MODEL_NAMES)}")
    if isinstance(num_classes, bool) or int(num_classes) != num_classes or num_classes < 2:
        raise ValueError(f"`num_classes` must be an integer >= 2, got {num_classes!r}")
    if input_shape is not None and len(input_shape) == 3:
        in_channels = int(input_shape[0])
    if key == "mlp":
        if input_shape is None:
            raise ValueError("model 'mlp' needs `input_shape` to know its input size")
        return MLP(math.prod(int(s) for s in input_shape), num_classes, **kwargs)
    if input_shape is not None and len(input_shape) != 3:
        raise ValueError(f"model {key!r} needs image inputs (C, H, W), got input_shape {tuple(input_shape)}")
    if key == "small_cnn":
        if input_shape is not None:
            kwargs.setdefault("input_size", int(min(input_shape[1:])))
        return SmallCNN(in_channels, num_classes, **kwargs)
    if key == "airbench":
        return AirbenchNet(in_channels, num_classes, **kwargs)
    if key == "resnet50":
        return ResNet50(in_channels, num_classes, **kwargs)
    return PreActResNet18(in_channels, num_classes, **kwargs)
