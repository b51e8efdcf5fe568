"""CIFAR-size networks: a fast airbench-style ResNet and PreActResNet18."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from prune4rel.models.base import EmbeddingModel

__all__ = ["AirbenchNet", "PreActResNet18", "ScaledLinear"]


class ScaledLinear(nn.Linear):
    """``Linear`` whose output is multiplied by a fixed ``scale`` (airbench divides by 9)."""

    def __init__(self, in_features: int, out_features: int, scale: float = 1.0, bias: bool = False) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.scale = float(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * self.scale


class _ConvGroup(nn.Module):
    """conv3x3 -> maxpool2 -> BN -> GELU -> conv3x3 -> BN -> GELU (airbench's block)."""

    def __init__(self, c_in: int, c_out: int, bn_momentum: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.bn1 = nn.BatchNorm2d(c_out, momentum=bn_momentum, eps=1e-12)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out, momentum=bn_momentum, eps=1e-12)
        self.act = nn.GELU()
        for bn in (self.bn1, self.bn2):  # airbench trains only the BN biases
            bn.weight.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn1(self.pool(self.conv1(x))))
        return self.act(self.bn2(self.conv2(x)))


class AirbenchNet(EmbeddingModel):
    """Fast CIFAR network in the style of Keller Jordan's *airbench* (94% in seconds on a GPU).

    A frozen 2x2 patch-whitening convolution (initialised from data with
    :meth:`init_from_data`), then three conv groups that each halve the resolution, a
    global max-pool, and a bias-free linear head scaled by ``1/9``. With widths
    (64, 256, 256) it has about 2M parameters; (128, 384, 384) is the larger variant.

    Reaching airbench's accuracy needs its recipe as well, which the learners expose:
    batch 1024, Nesterov SGD with a high learning rate and a short warm-up/linear decay
    (``schedule="triangle"``), label smoothing 0.2, whitening init, flip TTA
    (``tta=True``) and bf16 autocast on the GPU (``amp=True``).

    Parameters
    ----------
    in_channels, num_classes : int
    widths : sequence of three ints
        Channels of the conv groups; the last one is ``embedding_dim``.
    bn_momentum : float
        PyTorch BatchNorm momentum (airbench: 0.4, i.e. its "0.6" in the other convention).
    scale : float
        Logit scale of the head.
    """

    def __init__(
        self, in_channels: int = 3, num_classes: int = 10, widths: Sequence[int] = (64, 256, 256),
        bn_momentum: float = 0.4, scale: float = 1 / 9,
    ) -> None:
        super().__init__()
        k = 2
        self.whiten_kernel = k
        whiten_width = 2 * in_channels * k * k
        self.whiten = nn.Conv2d(in_channels, whiten_width, k, padding=0, bias=True)
        self.act = nn.GELU()
        groups = []
        c = whiten_width
        for w in widths:
            groups.append(_ConvGroup(c, w, bn_momentum))
            c = w
        self.groups = nn.Sequential(*groups)
        self.head = ScaledLinear(c, num_classes, scale=scale)
        self.embedding_dim = int(c)
        self.num_classes = int(num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m is not self.whiten:
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor, eps: float = 5e-4) -> None:
        """Set the whitening filters from the patch covariance of a normalised batch.

        The filters are the eigenvectors of the 2x2-patch covariance scaled by
        ``1/sqrt(eigenvalue + eps)``, and their negatives; they are then frozen (bias stays
        trainable). Called by the learners once before the first epoch.

        Parameters
        ----------
        x : Tensor, shape (B, C, H, W)
            A few thousand normalised training images suffice.
        eps : float
        """
        k = self.whiten_kernel
        c = x.shape[1]
        patches = x.unfold(2, k, 1).unfold(3, k, 1)  # (B, C, H', W', k, k)
        flat = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k).double()
        cov = flat.T @ flat / flat.shape[0]
        evals, evecs = torch.linalg.eigh(cov)
        evals, evecs = evals.flip(0), evecs.flip(1)
        filters = (evecs.T / torch.sqrt(evals.clamp_min(0) + eps)[:, None]).reshape(-1, c, k, k)
        weight = torch.cat([filters, -filters]).to(self.whiten.weight)
        self.whiten.weight.copy_(weight)
        self.whiten.weight.requires_grad_(False)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        x = self.groups(self.act(self.whiten(x)))
        return torch.amax(x, dim=(2, 3))


class _PreActBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.shortcut: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        skip = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + skip


class PreActResNet18(EmbeddingModel):
    """Pre-activation ResNet-18 (He et al., 2016) for 32x32 inputs, the backbone of SOP+,
    DivideMix and ELR on CIFAR. ``embedding_dim`` is ``8 * width`` (512).

    Parameters
    ----------
    in_channels, num_classes : int
    width : int
        Channels of the first stage (64 in the paper).
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        stages: list[nn.Module] = []
        c = width
        for i, mult in enumerate((1, 2, 4, 8)):
            out = width * mult
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(_PreActBlock(c, out, stride), _PreActBlock(out, out, 1)))
            c = out
        self.stages = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(c)
        self.head = nn.Linear(c, num_classes)
        self.embedding_dim = int(c)
        self.num_classes = int(num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        out = self.stages(self.conv1(x))
        out = F.relu(self.bn(out))
        return out.mean(dim=(2, 3))
