"""Small networks for tiny inputs (8x8 digits, feature vectors) and quick CPU runs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from prune4rel.models.base import EmbeddingModel

__all__ = ["MLP", "SmallCNN"]


class MLP(EmbeddingModel):
    """Multi-layer perceptron on flattened inputs.

    Parameters
    ----------
    in_features : int
        Flattened input size (e.g. 64 for 8x8x1 digits).
    num_classes : int
    hidden : sequence of int
        Hidden widths; the last one is ``embedding_dim``.
    batch_norm : bool
        BatchNorm1d after each hidden linear layer.
    """

    def __init__(
        self, in_features: int, num_classes: int, hidden: Sequence[int] = (256, 128),
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        if not hidden:
            raise ValueError("`hidden` must list at least one hidden width")
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers.append(nn.Linear(width, h, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(nn.ReLU(inplace=True))
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_classes)
        self.embedding_dim = int(width)
        self.num_classes = int(num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.flatten(1))


class SmallCNN(EmbeddingModel):
    """Conv blocks (conv-BN-ReLU; every block but the last is followed by 2x2 max-pooling
    while the map is at least 8 pixels wide), then global average pooling.

    Works for any input side >= 4; for 8x8 digits it pools once, for 32x32 images twice.
    The embedding is the average-pooled output of the last block.

    Parameters
    ----------
    in_channels : int
    num_classes : int
    widths : sequence of three ints
        Channels of the blocks; the last one is ``embedding_dim``.
    input_size : int
        Side of the (square) input, used to decide where to pool.
    """

    def __init__(
        self, in_channels: int, num_classes: int, widths: Sequence[int] = (32, 64, 128),
        input_size: int = 32,
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        c, side = in_channels, input_size
        for i, w in enumerate(widths):
            blocks += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            if side >= 8 and i < len(widths) - 1:
                blocks.append(nn.MaxPool2d(2))
                side //= 2
            c = w
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(c, num_classes)
        self.embedding_dim = int(c)
        self.num_classes = int(num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))
