"""Batched augmentations on torch tensors: crop, flip, cutout and the weak/strong views.

All augmentations work on a whole batch at once, on whatever device the batch lives on
(no per-image Python loop, no PIL), and draw their randomness from an explicit CPU
:class:`torch.Generator`, so a seed gives the same views on CPU and GPU.

Inputs are normalised first (see :class:`~prune4rel.data.input_pipeline.InputPipeline`);
zero therefore means "the mean colour", which is what cutout fills in. RandAugment, an
optional strong view, is in :mod:`prune4rel.data.randaugment`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from prune4rel.data.randaugment import RandAugment

__all__ = [
    "Augment",
    "FeatureAugment",
    "ImageAugment",
    "NoAugment",
    "cutout",
    "default_augment",
    "random_crop",
    "random_flip",
]


def _uniform(n: int, low: float, high: float, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    return (torch.rand(n, generator=gen) * (high - low) + low).to(device)


def random_crop(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Random ``H x W`` crops of the batch after reflect-padding ``pad`` pixels per side.

    Parameters
    ----------
    x : Tensor, shape (B, C, H, W)
    pad : int
        Padding per side (``pad < min(H, W)``); 0 returns ``x``.
    generator : torch.Generator
        CPU generator for the offsets.

    Returns
    -------
    Tensor, shape (B, C, H, W)
    """
    if pad <= 0:
        return x
    b, c, h, w = x.shape
    dev = x.device
    xp = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(dev)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(dev)
    rows = oy[:, None] + torch.arange(h, device=dev)  # (B, H)
    cols = ox[:, None] + torch.arange(w, device=dev)  # (B, W)
    bi = torch.arange(b, device=dev)[:, None, None, None]
    ci = torch.arange(c, device=dev)[None, :, None, None]
    return xp[bi, ci, rows[:, None, :, None], cols[:, None, None, :]]


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip each image of a (B, C, H, W) batch horizontally with probability 1/2."""
    mask = (torch.rand(x.shape[0], generator=generator) < 0.5).to(x.device)
    return torch.where(mask[:, None, None, None], x.flip(3), x)


def cutout(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zero a ``size x size`` square (clipped at the border) at a random centre per image.

    Parameters
    ----------
    x : Tensor, shape (B, C, H, W), normalised (0 = mean colour)
    size : int
        Side of the square; 0 returns ``x``.
    generator : torch.Generator
    """
    if size <= 0:
        return x
    b, _, h, w = x.shape
    dev = x.device
    cy = torch.randint(0, h, (b,), generator=generator).to(dev) - size // 2
    cx = torch.randint(0, w, (b,), generator=generator).to(dev) - size // 2
    ry = torch.arange(h, device=dev)[None, :]
    rx = torch.arange(w, device=dev)[None, :]
    in_y = (ry >= cy[:, None]) & (ry < cy[:, None] + size)  # (B, H)
    in_x = (rx >= cx[:, None]) & (rx < cx[:, None] + size)  # (B, W)
    mask = in_y[:, None, :, None] & in_x[:, None, None, :]
    return x.masked_fill(mask, 0.0)


class Augment:
    """Base class: a weak view for the supervised loss and a strong view for consistency."""

    def weak(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Weakly augmented copy of a normalised batch (default: unchanged)."""
        return x

    def strong(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Strongly augmented copy of a normalised batch (default: the weak view)."""
        return self.weak(x, generator)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class NoAugment(Augment):
    """Identity for both views."""


class ImageAugment(Augment):
    """Crop/flip weak view; crop/flip + jitter (or RandAugment) + cutout strong view.

    With the defaults this is the standard CIFAR augmentation (4-pixel padded random crop
    and horizontal flip) for the weak view.

    Parameters
    ----------
    pad : int
        Random-crop padding per side.
    flip : bool
        Random horizontal flips (turn off for digits and text).
    cutout : int
        Cutout side in the weak view (0 = none; airbench-style training uses e.g. 12).
    strong_cutout : int
        Cutout side in the strong view (e.g. 16 for 32x32 images).
    jitter : float
        Strong view ``"jitter"``: contrast factor in ``[1 - jitter, 1 + jitter]`` and
        brightness shift in ``[-jitter, jitter]`` (normalised units), per image.
    strong : {"jitter", "randaugment"} or RandAugment
        Strong view between crop/flip and cutout: the brightness/contrast jitter (default),
        or :class:`RandAugment` (``"randaugment"``: 2 ops at magnitude 10, or an instance
        for other settings).
    """

    def __init__(
        self, pad: int = 4, flip: bool = True, cutout: int = 0, strong_cutout: int = 16,
        jitter: float = 0.4, strong: str | RandAugment = "jitter",
    ) -> None:
        if isinstance(strong, str):
            if strong not in ("jitter", "randaugment"):
                raise ValueError(f"`strong` must be 'jitter', 'randaugment' or a RandAugment, got {strong!r}")
            self.randaugment = RandAugment() if strong == "randaugment" else None
        elif isinstance(strong, RandAugment):
            self.randaugment = strong
        else:
            raise ValueError(f"`strong` must be 'jitter', 'randaugment' or a RandAugment, got {strong!r}")
        self.pad = pad
        self.flip = flip
        self.cutout = cutout
        self.strong_cutout = strong_cutout
        self.jitter = jitter

    def weak(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = random_crop(x, self.pad, generator)
        if self.flip:
            x = random_flip(x, generator)
        return cutout(x, self.cutout, generator)

    def strong(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = random_crop(x, self.pad, generator)
        if self.flip:
            x = random_flip(x, generator)
        if self.randaugment is not None:
            x = self.randaugment(x, generator)
        elif self.jitter > 0:
            b = x.shape[0]
            contrast = _uniform(b, 1 - self.jitter, 1 + self.jitter, generator, x.device)
            bright = _uniform(b, -self.jitter, self.jitter, generator, x.device)
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = (x - mean) * contrast[:, None, None, None] + mean + bright[:, None, None, None]
        return cutout(x, self.strong_cutout, generator)


class FeatureAugment(Augment):
    """For feature vectors: weak = identity (or light noise), strong = noise + dropout.

    Parameters
    ----------
    weak_noise : float
        Std of Gaussian noise (normalised units) in the weak view.
    strong_noise : float
        Std of Gaussian noise in the strong view.
    drop : float
        Share of features zeroed (set to the mean) in the strong view.
    """

    def __init__(self, weak_noise: float = 0.0, strong_noise: float = 0.2, drop: float = 0.1) -> None:
        self.weak_noise = weak_noise
        self.strong_noise = strong_noise
        self.drop = drop

    @staticmethod
    def _noise(x: torch.Tensor, std: float, gen: torch.Generator) -> torch.Tensor:
        if std <= 0:
            return x
        return x + std * torch.randn(x.shape, generator=gen).to(x.device, x.dtype)

    def weak(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self._noise(x, self.weak_noise, generator)

    def strong(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = self._noise(x, self.strong_noise, generator)
        if self.drop > 0:
            keep = (torch.rand(x.shape, generator=generator) >= self.drop).to(x.device)
            x = x * keep
        return x


def default_augment(input_shape: Sequence[int], strong: str | RandAugment = "jitter") -> Augment:
    """The default views for an input shape ((C, H, W) images or (F,) features).

    Images of side >= 32 get the CIFAR recipe (crop pad 4 + flip; strong: + jitter +
    cutout of half the side); smaller images (e.g. 8x8 digits) get a 1-pixel crop, no flip
    (digits are not mirror-symmetric) and a cutout of a third of the side; features get
    :class:`FeatureAugment`.

    Parameters
    ----------
    input_shape : sequence of int
        (C, H, W) or (F,).
    strong : {"jitter", "randaugment"} or RandAugment
        Strong image view (see :class:`ImageAugment`); ignored for features. The learners'
        ``augment="auto"`` uses ``"jitter"``; pass ``augment=default_augment(shape,
        strong="randaugment")`` for RandAugment.
    """
    if len(input_shape) == 3:
        side = min(input_shape[1], input_shape[2])
        if side >= 32:
            return ImageAugment(pad=4, flip=True, strong_cutout=side // 2, strong=strong)
        return ImageAugment(
            pad=1 if side > 1 else 0, flip=False, strong_cutout=max(1, side // 3), strong=strong
        )
    return FeatureAugment()
