"""ResNet-50 (torchvision) behind the prune4rel model contract, for ImageNet-scale inputs."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from prune4rel.models.base import EmbeddingModel

__all__ = ["ResNet50", "import_torchvision"]


def import_torchvision() -> Any:
    """Import torchvision, or raise an ImportError that says how to install it.

    torchvision is an optional dependency of prune4rel and must be the build made for the
    installed torch (a mismatched wheel fails to import with operator or ABI errors).
    """
    try:
        import torchvision
    except Exception as exc:  # ImportError, or a RuntimeError/OSError from a mismatched build
        raise ImportError(
            "model 'resnet50' needs torchvision, which is not importable here "
            f"({type(exc).__name__}: {exc}). Install the torchvision release that matches your "
            f"torch {torch.__version__} (see https://pytorch.org/get-started/locally/ or the "
            "compatibility table at https://github.com/pytorch/vision#installation), e.g. "
            "`pip install torchvision` from the same index you installed torch from"
        ) from exc
    return torchvision


class ResNet50(EmbeddingModel):
    """torchvision's ResNet-50 (He et al., 2016): ``embed`` is the 2048-d pooled feature.

    The backbone is ``torchvision.models.resnet50`` with its classifier removed;
    ``embed(x)`` returns the global-average-pooled output of the last stage, (B, 2048), and
    ``forward(x) = head(embed(x))`` with ``head`` a fresh ``Linear(2048, num_classes)``
    (initialised from the pretrained classifier when ``weights`` are given and
    ``num_classes == 1000``).

    The usual backbone of noisy-label work on WebVision, Clothing-1M (ImageNet-pretrained)
    and ImageNet. Expects inputs of ImageNet resolution (e.g. 224x224, ``image_size=224``
    when materialising a :class:`~prune4rel.data.FileImageDataset`); ``cifar_stem=True``
    swaps the 7x7/2 stem and max-pool for a 3x3/1 convolution for 32x32 inputs.

    Parameters
    ----------
    in_channels : int
        Input channels; anything but 3 replaces the first convolution (its pretrained
        weights are then averaged over the RGB channels and repeated).
    num_classes : int
    weights : str or None
        torchvision weights name, e.g. ``"IMAGENET1K_V2"`` or ``"DEFAULT"`` (downloads once
        into torch's cache); None for random initialisation.
    cifar_stem : bool
        3x3 stride-1 first convolution and no max-pool, for small inputs.

    Raises
    ------
    ImportError
        When torchvision is not installed (the message says which build to install).
    """

    def __init__(
        self, in_channels: int = 3, num_classes: int = 1000, weights: str | None = None,
        cifar_stem: bool = False,
    ) -> None:
        super().__init__()
        tv = import_torchvision()
        net = tv.models.resnet50(weights=weights)
        old_fc = net.fc
        width = int(old_fc.in_features)
        if cifar_stem:
            net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        elif in_channels != 3:
            old = net.conv1
            conv = nn.Conv2d(
                in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False
            )
            with torch.no_grad():
                mean_w = old.weight.mean(dim=1, keepdim=True)
                conv.weight.copy_(mean_w.repeat(1, in_channels, 1, 1) * (3.0 / in_channels))
            net.conv1 = conv
        net.fc = nn.Identity()
        self.backbone = net
        self.head = nn.Linear(width, num_classes)
        if weights is not None and num_classes == old_fc.out_features:
            self.head.load_state_dict(old_fc.state_dict())
        self.embedding_dim = width
        self.num_classes = int(num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features, (B, 2048), of a normalised (B, C, H, W) batch."""
        return self.backbone(x).flatten(1)
